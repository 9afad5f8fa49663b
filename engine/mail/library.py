"""Where templates are and which language folder a message uses; one environment per language.

    templates/ja/dormant/intro.html     a template, as flows name it: "dormant/intro.html"
    templates/en/dormant/intro.html     the same in English
    templates/ja/_layout.html           what the ja templates extend ("_layout.html")
    templates/_layout.html              a layout shared by every language (optional)

A lead's ``language`` chooses the folder ("ja", "en"; anything else is "ja"); when the template
is missing there, the other language's is used, then one at the top of the folder. Each language
has its own environment, searching its folder first and then the top, so ``{% extends
"_layout.html" %}`` finds the layout in the same language.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from jinja2 import BaseLoader, Environment, FileSystemLoader

from engine.mail.context import LANGUAGES
from engine.mail.errors import TemplateError
from engine.mail.protect import Table, protect
from engine.mail.sandbox import MailEnvironment

HTML_SUFFIXES = (".html", ".htm")


def autoescaped(name: str | None) -> bool:
    """HTML templates (and their prepared forms) escape values; text templates do not."""
    return name is not None and name.endswith((*HTML_SUFFIXES, "#html"))


def valid_name(name: str) -> bool:
    path = PurePosixPath(name)
    return (bool(name) and "\\" not in name and not path.is_absolute()
            and ".." not in path.parts and "\x00" not in name)


class _Protecting(BaseLoader):
    """Serves the sources of a base loader with their constructs protected into ``table``."""

    def __init__(self, base: BaseLoader, table: Table) -> None:
        self.base = base
        self.table = table

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.base.get_source(environment, template)
        return protect(source, filename or template, self.table), filename, uptodate


class Library:
    """The templates folder: finding files, and the environments of each language: one for
    the templates as written, one for their protected forms (engine.mail.prepare assembles
    a template with its layout there). Both cache what they compile, so a layout is read and
    compiled once per language, not once per template."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.table = Table()  # the constructs of every protected source of this library
        self._envs: dict[str, MailEnvironment] = {}
        self._assemblers: dict[str, MailEnvironment] = {}

    def env(self, language: str) -> MailEnvironment:
        env = self._envs.get(language)
        if env is None:
            loader = FileSystemLoader([str(self.root / language), str(self.root)])
            env = self._envs[language] = MailEnvironment(loader, autoescape=autoescaped)
        return env

    def assembler(self, language: str) -> MailEnvironment:
        env = self._assemblers.get(language)
        if env is None:
            base = self.env(language).loader
            assert base is not None
            env = self._assemblers[language] = MailEnvironment(_Protecting(base, self.table),
                                                               autoescape=False)
        return env

    def languages_of(self, name: str) -> list[str]:
        """The language folders holding ``name`` (["ja", "en"], ...); [""] when only the top
        of the folder has it; [] when nothing does."""
        found = [lang for lang in LANGUAGES if (self.root / lang / name).is_file()]
        if not found and (self.root / name).is_file():
            return [""]
        return found

    def language_for(self, name: str, wanted: str) -> str:
        """The language folder a message in ``wanted`` uses for ``name``."""
        if not valid_name(name):
            raise TemplateError(f"{name!r} is not a template name (a relative path such as "
                                "\"dormant/intro.html\")")
        order = [wanted, *(lang for lang in LANGUAGES if lang != wanted)]
        for lang in order:
            if (self.root / lang / name).is_file():
                return lang
        if (self.root / name).is_file():
            return wanted
        raise TemplateError(f"no template {name!r} in {self.root}/ (looked in "
                            + ", ".join(f"{self.root}/{lang}/" for lang in order) + ")")

    def file(self, name: str, language: str) -> str:
        path = self.root / language / name
        return str(path if path.is_file() else self.root / name)

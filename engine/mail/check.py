"""`engine check` for the templates the checked flows use: syntax, names, and the legal musts.

For every template a checked flow sends or notifies with, in every language folder that has it
(and for the layouts, includes and imports it pulls in), this reports with the file and line:

- E0501 a syntax error, or a filter or test that does not exist in mail templates;
- E0502 a name a template cannot see, E0503 an attribute its value does not have
  (``lead.compnay``): the names are engine.mail.context's, the lead's attributes and the score
  names come from the flows' definitions;
- E0504 a marketing email (``send``) without an unsubscribe link, E0505 without the sender's
  name and postal address (特定電子メール法 and CAN-SPAM want both in every advertising email);
- E0506 a template without a subject block;
- E0507 a template that cannot be prepared for sending (CSS inlining, the HTML around its code);
- E0508 code outside the blocks of a template that extends a layout (it would be ignored);
- E0509 a ``send`` of a template that is not HTML (plain text is for internal notifications).

Internal notifications (``notify``: ``alerts/*.txt``, ``tasks/*``) need no unsubscribe link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateNotFound
from jinja2.parser import Parser

from dsl import ast as A
from dsl import symbols
from dsl.diagnostics import Diagnostic, did_you_mean, error
from dsl.symbols import walk_steps
from engine.mail.context import (
    INTERNAL_NAMES,
    JINJA_NAMES,
    MARKETING_NAMES,
    RECORD_FIELDS,
)
from engine.mail.errors import TemplateError
from engine.mail.library import Library, autoescaped
from engine.mail.prepare import describe, prepare

MARKETING, INTERNAL = "marketing", "internal"
_BLOCK_SUBJECT = "subject"


@dataclass(frozen=True)
class Use:
    name: str
    kind: str  # MARKETING (send) or INTERNAL (notify)
    span: A.Span


def uses(modules: Sequence[A.Module], files: set[str]) -> dict[str, Use]:
    """The templates the flows of ``files`` use; a template both sent and notified with counts
    as marketing (the stricter rules)."""
    found: dict[str, Use] = {}
    for module in modules:
        if module.path not in files:
            continue
        for item in module.items:
            if not isinstance(item, A.Flow):
                continue
            # steps only: walking every field of every node costs a fifth of `engine check`
            for step, _parents in walk_steps(item):
                if isinstance(step, A.Send):
                    found_uses = [Use(t, MARKETING, step.span) for t in step.templates]
                elif isinstance(step, A.Notify):
                    found_uses = [Use(step.template, INTERNAL, step.span)]
                else:
                    continue
                for use in found_uses:
                    if use.name not in found or use.kind == MARKETING:
                        found[use.name] = use
    return found


@dataclass
class _Names:
    top: frozenset[str]
    fields: dict[str, frozenset[str]]


class _Checker:
    def __init__(self, library: Library, table: symbols.Symbols,
                 display: Callable[[str], str]) -> None:
        self.library = library
        self.display = display  # file name as loaded -> as shown
        self.sources: dict[str, str] = {}
        self.diags: list[Diagnostic] = []
        self._seen: set[tuple[str, str]] = set()
        self._trees: dict[str, tuple[nodes.Template, str, str] | TemplateSyntaxError] = {}
        self.lead_fields = frozenset(table.attributes)
        self.score_fields = frozenset(table.scores)

    def shown(self, file: str) -> str:
        return self.display(file)

    def report(self, code: str, message: str, file: str, line: int, column: int = 1,
               width: int = 1, hint: str | None = None) -> None:
        shown = self.shown(file)
        span = A.Span(shown, line, column, line if line else 0, column + width if line else 0)
        self.diags.append(error(code, message, span, hint))

    # ------------------------------------------------------------ one template

    def check(self, use: Use, language: str) -> None:
        names = _Names(MARKETING_NAMES if use.kind == MARKETING else INTERNAL_NAMES,
                       {**RECORD_FIELDS, "lead": self.lead_fields, "scores": self.score_fields})
        env = self.library.env(language)
        file = self.library.file(use.name, language)
        if use.kind == MARKETING and not autoescaped(use.name):
            self.report("E0509", f"`send` needs an HTML template, and {use.name!r} is not one "
                        "(plain-text templates are for `notify`)", file, 0)
            return
        trees = self.load_all(env, use.name, names)
        if trees is None:
            return
        tree, source, filename = trees
        if not any(b.name == _BLOCK_SUBJECT for b in tree.find_all(nodes.Block)):
            self.report("E0506", "the template has no subject", filename, 1,
                        hint="add a line {% block subject %}Your subject{% endblock %}")
        if _extends(tree) is not None:
            for node in tree.body:
                if not _ignorable(node):
                    self.report("E0508", "code outside any block of a template that extends a "
                                "layout is ignored", filename, node.lineno,
                                hint="move it into a block ({% block content %}...)")
                    break
        if use.kind == MARKETING:
            try:
                prepared = prepare(self.library, use.name, language, compiled=False)
            except TemplateError as exc:
                self.report("E0507", f"cannot prepare this template for sending: {exc.reason}",
                            exc.file or filename, exc.line)
                return
            if not prepared.has_unsubscribe:
                self.report("E0504", "a marketing email without an unsubscribe link",
                            filename, 1, hint='add <a href="{{ unsubscribe_url }}">...</a>, or '
                            "extend the layout that has it")
            if not prepared.has_footer:
                self.report("E0505", "a marketing email must show the sender's name and postal "
                            "address (org.name, org.postal_address)", filename, 1,
                            hint="extend the layout, whose footer shows both")

    def tree(self, env: Environment, name: str
             ) -> tuple[nodes.Template, str, str] | TemplateSyntaxError | None:
        """The template as written (parsed once per file), its source and file name; the
        syntax error instead when it has one (compiling it also finds unknown filters)."""
        try:
            assert env.loader is not None
            source, filename, _ = env.loader.get_source(env, name)
        except TemplateNotFound:
            return None
        filename = filename or name
        found = self._trees.get(filename)
        if found is None:
            try:
                env.get_template(name)
                found = (_parse(env, source, name, filename), source, filename)
            except TemplateSyntaxError as exc:
                found = exc
            self._trees[filename] = found
        return found

    def load_all(self, env: Environment, name: str, names: _Names
                 ) -> tuple[nodes.Template, str, str] | None:
        """Check ``name`` and every template it pulls in; the template's own tree."""
        first: tuple[nodes.Template, str, str] | None = None
        todo, done = [name], set()
        while todo:
            current = todo.pop(0)
            if current in done:
                continue
            done.add(current)
            loaded = self.tree(env, current)
            if loaded is None:
                continue
            if isinstance(loaded, TemplateSyntaxError):
                file = loaded.filename or current
                if (file, "syntax") not in self._seen:
                    self._seen.add((file, "syntax"))
                    self.report("E0501", describe(loaded), file, loaded.lineno or 1)
                continue
            tree, source, filename = loaded
            self.sources[self.shown(filename)] = source
            key = (filename, ",".join(sorted(names.top)))
            if key not in self._seen:
                self._seen.add(key)
                self.check_names(tree, source, filename, names)
            if current == name:
                first = loaded
            todo.extend(_pulled_in(tree))
        return first

    # ------------------------------------------------------------ names

    def check_names(self, tree: nodes.Template, source: str, filename: str,
                    names: _Names) -> None:
        lines = source.splitlines()
        declared = _declared(tree)
        for node in tree.find_all(nodes.Name):
            if node.ctx != "load" or node.name in declared or node.name in JINJA_NAMES:
                continue
            if node.name not in names.top:
                col, width = _column(lines, node.lineno, node.name)
                hint = (f"did you mean `lead.{node.name}`?" if node.name in self.lead_fields
                        else did_you_mean(node.name, names.top) or _known_hint(names.top))
                self.report("E0502", f"unknown name `{node.name}` in a template", filename,
                            node.lineno, col, width, hint)
        for attr_node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            assert isinstance(attr_node, nodes.Getattr | nodes.Getitem)
            base = attr_node.node
            if not isinstance(base, nodes.Name) or base.name in declared \
                    or base.name not in names.fields or base.name not in names.top:
                continue
            attr: str
            if isinstance(attr_node, nodes.Getattr):
                attr = attr_node.attr
            elif isinstance(attr_node.arg, nodes.Const) and isinstance(attr_node.arg.value, str):
                attr = attr_node.arg.value
            else:
                continue
            known = names.fields[base.name]
            if attr not in known:
                col, width = _column(lines, attr_node.lineno, attr, base.name)
                attr_hint = did_you_mean(attr, known)
                if attr_hint is None and base.name == "lead":
                    attr_hint = "declare it in the flows' `attributes:`, or check the name"
                self.report("E0503", f"`{base.name}` has no attribute `{attr}`", filename,
                            attr_node.lineno, col, width, attr_hint)


def _parse(env: Environment, source: str, name: str, filename: str | None) -> nodes.Template:
    """The template as written (the environment's own parse adds the sandbox's guard calls)."""
    return Parser(env, source, name, filename).parse()


def _known_hint(top: frozenset[str]) -> str:
    return "templates see only: " + ", ".join(sorted(top))


def _column(lines: list[str], line: int, word: str, before: str | None = None) -> tuple[int, int]:
    if 0 < line <= len(lines):
        text = lines[line - 1]
        pattern = (rf"\b{re.escape(before)}\s*(?:\.\s*|\[\s*['\"])({re.escape(word)})\b"
                   if before else rf"\b({re.escape(word)})\b")
        m = re.search(pattern, text)
        if m:
            return m.start(1) + 1, len(word)
    return 1, 1


def _declared(tree: nodes.Template) -> set[str]:
    out: set[str] = set()
    for n in tree.find_all(nodes.Name):
        if n.ctx in ("store", "param"):
            out.add(n.name)
    for macro in tree.find_all(nodes.Macro):
        out.add(macro.name)
    for imp in tree.find_all(nodes.Import):
        out.add(imp.target)
    for frm in tree.find_all(nodes.FromImport):
        for item in frm.names:
            out.add(item[1] if isinstance(item, tuple) else item)
    return out


def _extends(tree: nodes.Template) -> str | None:
    for node in tree.find_all(nodes.Extends):
        if isinstance(node.template, nodes.Const) and isinstance(node.template.value, str):
            return node.template.value
    return None


def _pulled_in(tree: nodes.Template) -> list[str]:
    out = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        target = getattr(node, "template", None)
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            out.append(target.value)
    return out


def _ignorable(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Extends | nodes.Block):
        return True
    if isinstance(node, nodes.Output):
        return all(isinstance(c, nodes.TemplateData) and not c.data.strip() for c in node.nodes)
    return False


def check_templates(modules: Sequence[A.Module], files: set[str], root: Path,
                    display: Callable[[str], str] = str
                    ) -> tuple[list[Diagnostic], dict[str, str]]:
    """Diagnostics for the templates the flows of ``files`` use, and the templates' sources
    (keyed as the diagnostics name them, for showing the lines)."""
    library = Library(root)
    table = symbols.build(modules)
    checker = _Checker(library, table, display)
    for use in sorted(uses(modules, files).values(), key=lambda u: u.name):
        for language in library.languages_of(use.name):
            checker.check(use, language)
    unique = list({(d.span.file, d.span.line, d.code, d.message): d
                   for d in checker.diags}.values())
    return unique, checker.sources

"""A template made ready for sending, once per template and language (then cached).

For an HTML template the steps are:

1. every Jinja construct of the template, its layout and includes is protected (engine.mail.
   protect), and the structural tags alone are run: the layout and the template's blocks become
   one document with tokens where the code was;
2. CSS is inlined into that document (css-inline; ``@media`` rules stay in a ``<style>`` for
   mobile clients);
3. links are pointed at ``_track`` and the open pixel is added (engine.mail.links);
4. the code is put back: that is the HTML template rendered per message;
5. html2text runs on the same document (tokens uncommented), and the code is put back: that is
   the text template rendered per message, so the text part costs one more small render instead
   of an html2text run per message (engine.mail.text).

The template as written (``original``) is compiled too: its ``subject`` and ``preheader``
blocks are rendered from it, and it is what ``engine check`` inspects. Plain-text templates
(internal alerts) are used as written.

A problem in any step is a :class:`TemplateError` naming the file and line it came from; errors
at render time are mapped back the same way through the source maps.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import css_inline
from jinja2 import Environment, Template, TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateNotFound
from jinja2.runtime import Context

from engine.mail.errors import TemplateError
from engine.mail.library import Library, autoescaped
from engine.mail.links import add_open_pixel, has_unsubscribe_link, rewrite_links
from engine.mail.protect import (
    COMMENT_TOKEN,
    SourceMap,
    Table,
    escape_literals,
    restore,
    tokens_in,
    uncomment_tokens,
)
from engine.mail.sandbox import MAX_OUTPUT, MailEnvironment, limits
from engine.mail.text import raw_text, tidy

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_FOOTER_NAME = re.compile(r"\borg\.name\b")
_FOOTER_ADDRESS = re.compile(r"\borg\.postal_address\b")


@dataclass(frozen=True)
class Prepared:
    name: str
    language: str  # the folder used; "" for a template at the top of the folder
    file: str  # the template's own file, for messages
    original: Template
    html: Template | None = None  # None for plain-text templates
    text: Template | None = None  # None: derive the text part per message (fallback)
    maps: Mapping[str, SourceMap] = field(default_factory=dict)
    has_unsubscribe: bool = False
    has_footer: bool = False

    @property
    def is_html(self) -> bool:
        return self.html is not None


def compile_source(env: Environment, source: str, name: str, filename: str) -> Template:
    code = env.compile(source, name, filename)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def locate(exc: BaseException, maps: Mapping[str, SourceMap]) -> tuple[str, int]:
    """The template file and line an exception was raised at (the innermost template frame),
    through the source maps for prepared templates."""
    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        where = (exc.filename or exc.name or "", exc.lineno)
    else:
        where = ("", 0)
        for frame, line in traceback.walk_tb(exc.__traceback__):
            name = frame.f_code.co_filename
            if name in maps or frame.f_globals.get("__jinja_template__") is not None \
                    or name.endswith((".html", ".htm", ".txt")):
                where = (name, line)
    if where[0] in maps:
        return maps[where[0]].origin(where[1])
    return where


def describe(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        return "the template calls itself without end (a macro recursing?)"
    if isinstance(exc, TemplateNotFound):
        return f"template {exc.name!r} not found (in an extends, include or import)"
    return str(text).splitlines()[0] if text else type(exc).__name__


def template_error(exc: BaseException, maps: Mapping[str, SourceMap], fallback: str,
                   what: str = "") -> TemplateError:
    file, line = locate(exc, maps)
    return TemplateError(f"{what}{describe(exc)}", file or fallback, line)


def load_original(env: MailEnvironment, name: str, file: str) -> Template:
    try:
        return env.get_template(name)
    except TemplateSyntaxError as exc:
        raise TemplateError(describe(exc), exc.filename or file, exc.lineno) from None
    except TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name!r} not found", file) from None


def _same_code(before: str, after: str, table: Table, file: str) -> None:
    """The HTML parser kept every construct, once each, and those in text in their order:
    otherwise the HTML around the first one it dropped, moved or copied is malformed (a stray
    end tag, a misnested ``<b><p>``...), and the prepared template would not do what the
    source says. (Tokens inside tags may change places: attributes get reordered.)"""
    ids_before, ids_after = tokens_in(before), tokens_in(after)
    if sorted(ids_before) == sorted(ids_after):
        in_text = [int(m.group(1)) for m in COMMENT_TOKEN.finditer(before)]
        kept = set(in_text)
        if in_text == [i for i in ids_after if i in kept]:
            return
    lost = [i for i in ids_before if i not in set(ids_after)]
    if lost:
        at, what = lost[0], "drops"
    else:
        at = next((b for b, a in zip(ids_before, ids_after, strict=False) if b != a),
                  (ids_before or ids_after)[-1])
        what = "moves or copies"
    c = table[at]
    raise TemplateError(f"the HTML around `{c.text[:60]}` is malformed: an HTML parser {what} "
                        "it (put it inside an element, or fix the tags around it)",
                        c.file or file, c.line)


def prepare(library: Library, name: str, language: str, compiled: bool = True) -> Prepared:
    """The template ``name`` of the ``language`` folder, ready to render. ``compiled=False``
    stops short of compiling the prepared forms (enough for ``engine check``, and faster)."""
    env = library.env(language)
    file = library.file(name, language)
    original = load_original(env, name, file)
    if not autoescaped(name):
        return Prepared(name, language, file, original)
    table = library.table
    try:
        with limits():
            document = library.assembler(language).get_template(name).render()
    except TemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, it is this template's
        raise template_error(exc, {}, file, "cannot assemble the template with its layout: ") \
            from None
    try:
        inlined = _INLINER.inline(document)
    except (css_inline.InlineError, ValueError) as exc:
        raise TemplateError(f"cannot inline the CSS: {exc}", file) from None
    _same_code(document, inlined, table, file)
    linked = add_open_pixel(rewrite_links(inlined, table), table)
    html_source, html_map = restore(escape_literals(linked), table)
    html_file, text_file = f"<{file} as sent>", f"<{file} as text>"
    has_unsubscribe = has_unsubscribe_link(inlined, table)
    has_footer = bool(_FOOTER_NAME.search(html_source) and _FOOTER_ADDRESS.search(html_source))
    if not compiled:
        return Prepared(name, language, file, original, None, None, {html_file: html_map},
                        has_unsubscribe, has_footer)
    text_source, text_map = restore(escape_literals(tidy(raw_text(uncomment_tokens(linked)))),
                                    table)
    maps = {html_file: html_map, text_file: text_map}
    try:
        html = compile_source(env, html_source, f"{name}#html", html_file)
    except TemplateSyntaxError as exc:
        raise template_error(exc, maps, file, "cannot prepare the template: ") from None
    try:
        text: Template | None = compile_source(env, text_source, f"{name}#text", text_file)
    except TemplateSyntaxError:
        text = None  # the text part is then derived from each rendered HTML part (slower)
    return Prepared(name, language, file, original, html, text, maps, has_unsubscribe,
                    has_footer)


def _context(template: Template, parent: dict[str, Any]) -> Context:
    """A render context over ``parent`` as it is: the caller's dict holds the environment's
    globals and the message's values, merged once per message for its three renders (the
    general path would copy them, and iterate the globals, on every render)."""
    return template.environment.context_class(template.environment, parent, template.name,
                                              template.blocks)


def render_template(template: Template, parent: dict[str, Any]) -> str:
    """The whole template, at most MAX_OUTPUT characters."""
    try:
        out = template.environment.concat(  # type: ignore[attr-defined]
            template.root_render_func(_context(template, parent)))
    except Exception:  # noqa: BLE001 - re-raised with template lines instead of Python ones
        template.environment.handle_exception()
    if len(out) > MAX_OUTPUT:
        raise SecurityError(f"the rendered message is {len(out):,} characters long (at most "
                            f"{MAX_OUTPUT:,})")
    return str(out)


def render_block(template: Template, block: str, parent: dict[str, Any]) -> str | None:
    """A block of a template rendered alone (None when the template does not define it)."""
    ctx = _context(template, parent)
    render = ctx.blocks.get(block)
    if not render:
        return None
    try:
        return "".join(render[0](ctx))
    except Exception:  # noqa: BLE001 - re-raised with template lines instead of Python ones
        template.environment.handle_exception()

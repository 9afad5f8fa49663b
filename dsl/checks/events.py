"""Pass: kinds of events and their filters (``page views on "/pricing*"``, ``where asset = ...``).

Codes: E0209 unknown kind of event, E0210 a filter that does not apply to this kind, E0211 a
property outside the allowlist (``schema.EVENT_PROPERTIES``: nothing else may reach SQL);
E0204 / E0302 / E0303 for property values that are not texts or operators that need order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import schema
from dsl import symbols as S
from dsl.checks.memo import per_folder
from dsl.checks.walk import index, quote, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error
from dsl.formatter import operand as operand_text

if TYPE_CHECKING:
    from dsl.check import Context

# Which kinds take `on "pattern"`, and the property it tests.
ON_KINDS = {"page_view": "url", "email_click": "link", "activity": "url or link"}
# For kinds that do not take `on`: the property to test instead.
INSTEAD = {"download": "asset", "form_submit": "form", "seminar": "name", "exhibition": "name",
           "email_open": "template", "email_sent": "template"}
ORDERING = ("<", "<=", ">", ">=")


def _plural(kind: str) -> str:
    return kind.replace("_", " ") + "s"


def _filter(f: A.EventFilter, kind: str, custom: bool) -> Iterator[Diagnostic]:
    value = quote(f.value.value if f.value is not None else "...")
    if f.kind == "on" and kind not in ON_KINDS:
        prop = INSTEAD.get(kind, "name" if custom else None)
        hint = (f'test a property instead: where {prop} matches {value}' if prop
                else "remove the filter")
        yield error("E0210", f"`on` does not apply to {_plural(kind)}; it filters page views (by "
                    "url), email clicks (by link) and activity", f.span, hint)
    elif f.kind in ("to", "from") and kind != "stage_change":
        hint = (f"did you mean on {value}?" if kind in ON_KINDS
                else f"test a property instead: where name = {value}" if custom
                else "remove the filter")
        yield error("E0210", f"`{f.kind}` applies only to stage changes, not to {_plural(kind)}",
                    f.span, hint)


def _prop(test: A.PropTest) -> Iterator[Diagnostic]:
    if test.prop not in schema.EVENT_PROPERTIES:
        yield error("E0211", f"events have no property `{test.prop}` that a filter can test",
                    word_span(test.span, 0, test.prop),
                    did_you_mean(test.prop, schema.EVENT_PROPERTIES),
                    "filters can test: " + ", ".join(schema.EVENT_PROPERTIES))
    v = test.value
    if test.op in ORDERING:
        yield error("E0303", f"`{test.op}` compares numbers or dates, but event property "
                    f"`{test.prop}` is a text", test.span, "use = or != or matches")
    elif isinstance(v, A.Name):
        yield error("E0204", f"unknown name `{v.name}`; texts go in double quotes", v.span,
                    f'"{v.name}"')
    elif not isinstance(v, A.Str):
        what = "a number" if isinstance(v, A.Num) else "a date"
        yield error("E0302", f"event property `{test.prop}` is a text but {operand_text(v)} is "
                    f"{what}", v.span, f'write it in double quotes: "{operand_text(v)}"')


def _match(em: A.EventMatch, table: S.Symbols) -> Iterator[Diagnostic]:
    kind = table.event_kind(em.words)
    if kind is None:
        phrase = " ".join(em.words)
        yield error("E0209", f"unknown kind of event `{phrase}`", word_span(em.span, 0, phrase),
                    did_you_mean(phrase, table.event_phrases())
                    or "declare it under `events:` if your data has such events")
    for f in em.filters:
        if kind is not None:
            yield from _filter(f, kind, kind not in schema.EVENT_KINDS)
        for test in f.tests:
            yield from _prop(test)


def check_events(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = S.build(modules)
    out: list[Diagnostic] = []
    for node, _flow, _file in per_folder(modules, "index", index).of(A.EventMatch):
        assert isinstance(node, A.EventMatch)
        out.extend(_match(node, table))
    return tidy(out)

"""Pass: types. Attributes are texts, numbers, dates or booleans; scores are numbers; tiers are
categories. Both sides of a comparison must agree, and each operator needs a type it works on.

Codes: E0301 unknown attribute type, E0302 two types that cannot be compared (or set),
E0303 an operator that does not work on this type, E0304 a text that looks like a date but is not
a real one, E0305 ``set`` with a value of another type, E0306 ``one of`` values of another type,
E0307 ``wait until`` something that is not a date, E0308 tier rules that do not fit the type of
the attribute they read, E0309 ``set`` to a value outside an attribute's ``one of`` list.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import schema
from dsl import symbols as S
from dsl.checks.memo import per_folder
from dsl.checks.typeinfo import (
    BOOLEANS,
    describe,
    mismatch,
    not_a_date,
    operand_type,
    text_or_date,
    type_hint,
)
from dsl.checks.walk import index, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error
from dsl.formatter import operand as operand_text

if TYPE_CHECKING:
    from dsl.check import Context

SYNONYMS = {"string": "text", "str": "text", "varchar": "text", "int": "number",
            "integer": "number", "float": "number", "decimal": "number", "numeric": "number",
            "bool": "boolean", "datetime": "date", "timestamp": "date", "time": "date"}
ORDERING = ("<", "<=", ">", ">=")
NUMERIC_RULES = ("between", "at least", "below")
TEXT_RULES = ("matches", "in")


def _ordering(left: A.Operand, op: str, t: str, table: S.Symbols, span: A.Span) -> Diagnostic:
    who = describe(left, t)
    if t == S.CATEGORY and isinstance(left, A.Name):
        cats = table.categories(left.name)
        example = f"{left.name} in ({', '.join(cats[:2])})"
        return error("E0303", f"{who}: its categories have no order, so `{op}` does not apply",
                     span, f"use is / is not / in, such as {example}")
    return error("E0303", f"{who}: `{op}` only compares numbers and dates", span,
                 "use = or !=" + (", or contains / starts with" if t == "text" else ""))


def _compare(c: A.Compare, table: S.Symbols) -> Iterator[Diagnostic]:
    lt, rt = operand_type(c.left, table), operand_type(c.right, table)
    wrong = list(mismatch(c.left, lt, c.right, rt, table))
    if wrong or c.op not in ORDERING:
        yield from wrong
        return
    for side, t in ((c.left, lt), (c.right, rt)):
        if t in ("text", "boolean", S.CATEGORY) and not (t == "text" and text_or_date(side)):
            yield _ordering(side, c.op, t, table, c.span)
            return


def _must_be(left: A.Operand, want: str, words: str, table: S.Symbols,
             span: A.Span) -> Iterator[Diagnostic]:
    t = operand_type(left, table)
    if t is None or t == want or (want == "date" and isinstance(left, A.Today)):
        return
    yield error("E0303", f"{describe(left, t)}: `{words}` works on {want}s", span,
                _usage(left, t, table))


def _usage(left: A.Operand, t: str, table: S.Symbols) -> str | None:
    """What does work on a value of type ``t``."""
    name = operand_text(left)
    if t == S.CATEGORY and isinstance(left, A.Name):
        cats = table.categories(left.name)
        return f"use is, such as {name} is {cats[0] if cats else '...'}"
    return {"number": f"compare it, such as {name} > 100",
            "date": f"use within / in last / more than ... ago, such as {name} in last 30 days",
            "text": f'use is or contains, such as {name} contains "..."',
            "boolean": f"use is, such as {name} is true"}.get(t)


def _leaf(leaf: A.Condition, table: S.Symbols) -> Iterator[Diagnostic]:
    if isinstance(leaf, A.Compare):
        yield from _compare(leaf, table)
    elif isinstance(leaf, A.InList):
        lt = operand_type(leaf.left, table)
        for v in leaf.values:
            yield from mismatch(leaf.left, lt, v, operand_type(v, table), table)
    elif isinstance(leaf, A.TextMatch):
        yield from _must_be(leaf.left, "text", leaf.op, table, leaf.span)
    elif isinstance(leaf, A.DateWindow):
        words = {"more than ago": "more than ... ago", "less than ago": "less than ... ago"}
        yield from _must_be(leaf.left, "date", words.get(leaf.op, leaf.op), table, leaf.span)


def _shift(s: A.Shift, table: S.Symbols) -> Iterator[Diagnostic]:
    yield from _must_be(s.base, "date", f"{s.sign} {s.duration.amount} {s.duration.unit}s",
                        table, s.span)


def _set(step: A.SetAttr, table: S.Symbols) -> Iterator[Diagnostic]:
    attr = table.attributes.get(step.name)
    if attr is None or table.kind_of(step.name) != S.ATTRIBUTE or attr.type not in schema.TYPES:
        return
    vt = operand_type(step.value, table)
    if vt is None:
        return
    if vt != attr.type and not (attr.type == "date" and text_or_date(step.value)):
        yield error("E0305", f"`{step.name}` is a {attr.type} but {describe(step.value, vt)}",
                    step.value.span if step.value.span.line else step.span,
                    type_hint(step.value, attr.type, table, target=step.name))
        return
    if attr.type == "date":
        yield from not_a_date(step.value)
    allowed = attr.literal_values
    if allowed is not None and isinstance(step.value, A.Str | A.Num):
        if step.value.value not in allowed:
            shown = ", ".join(operand_text(v) for v in attr.values or ())
            yield error("E0309", f"{operand_text(step.value)} is not one of the values of "
                        f"`{step.name}`", step.value.span,
                        did_you_mean(str(step.value.value), [str(a) for a in allowed])
                        or f"`{step.name}` is one of: {shift_text(shown)}")


def shift_text(s: str) -> str:
    return s if len(s) <= 80 else s[:77] + "..."


def _type_hint(word: str) -> str | None:
    close = difflib.get_close_matches(word.lower(), [*schema.TYPES, *SYNONYMS], n=1, cutoff=0.6)
    if not close:
        return None
    return f"did you mean `{SYNONYMS.get(close[0], close[0])}`?"


def _decl(decl: A.AttributeDecl) -> Iterator[Diagnostic]:
    if decl.type not in schema.TYPES:
        hint = _type_hint(decl.type)
        yield error("E0301", f"unknown type `{decl.type}` for attribute `{decl.name}`",
                    word_span(decl.span, len(decl.name) + 2, decl.type),
                    hint or "the types are: " + ", ".join(schema.TYPES))
        return
    for v in decl.values or ():
        if isinstance(v, A.Name) and not (decl.type == "boolean" and v.name in BOOLEANS):
            yield error("E0204", f"unknown name `{v.name}`; texts go in double quotes", v.span,
                        f'"{v.name}"')
            continue
        if decl.type == "date":
            yield from not_a_date(v)
        vt = "boolean" if isinstance(v, A.Name) else operand_type(v, S.Symbols())
        if vt is not None and vt != decl.type and not (decl.type == "date" and text_or_date(v)):
            yield error("E0306", f"`{decl.name}` is a {decl.type} but {describe(v, vt)}", v.span,
                        type_hint(v, decl.type, S.Symbols(), target=decl.name)
                        or f"list only {decl.type}s, or declare `{decl.name}` as {vt}")


def _tier(tier: A.Tier, table: S.Symbols) -> Iterator[Diagnostic]:
    t = table.type_of(tier.source) if table.kind_of(tier.source) == S.ATTRIBUTE else None
    for entry in tier.entries:
        kind = entry.rule.kind
        if t != "number" and kind in NUMERIC_RULES and t is not None:
            yield error("E0308", f"tier `{tier.name}` uses number ranges, but `{tier.source}` is "
                        f"a {t}", entry.rule.span, 'for texts, use in ("...") or '
                        'matches ("...*")')
            return
        if t != "text" and kind in TEXT_RULES and t is not None:
            yield error("E0308", f"tier `{tier.name}` tests texts, but `{tier.source}` is a {t}",
                        entry.rule.span, "for numbers, use ranges such as `2 to 99`, "
                        "`500 and above` or `below 2`")
            return


def _wait_until(step: A.WaitUntil, table: S.Symbols) -> Iterator[Diagnostic]:
    yield from not_a_date(step.date)
    t = operand_type(step.date, table)
    if t is not None and t != "date" and not text_or_date(step.date):
        yield error("E0307", f"`wait until` needs a date, but {describe(step.date, t)}",
                    step.date.span, "wait until a date attribute, such as renewal_date - 30 "
                    "days, or write `wait 30 days`")


def check_types(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = S.build(modules)
    out: list[Diagnostic] = []
    idx = per_folder(modules, "index", index)
    for leaf, _site in idx.leaves:
        out.extend(_leaf(leaf, table))
    for node, _flow, _file in idx.of(A.Shift, A.SetAttr, A.WaitUntil, A.AttributeDecl, A.Tier):
        if isinstance(node, A.Shift):
            out.extend(_shift(node, table))
        elif isinstance(node, A.SetAttr):
            out.extend(_set(node, table))
        elif isinstance(node, A.WaitUntil):
            out.extend(_wait_until(node, table))
        elif isinstance(node, A.AttributeDecl):
            out.extend(_decl(node))
        elif isinstance(node, A.Tier):
            out.extend(_tier(node, table))
    return tidy(out)

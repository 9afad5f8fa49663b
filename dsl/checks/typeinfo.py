"""The types of operands, how to say them to a marketer, and whether two of them agree."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from dsl import ast as A
from dsl import schema
from dsl import symbols as S
from dsl.diagnostics import Diagnostic, error
from dsl.formatter import operand as operand_text

BOOLEANS = ("true", "false")
DATE_SHAPE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
NUMBER_SHAPE = re.compile(r"[+-]?\d+(\.\d+)?")


def operand_type(op: A.Operand, table: S.Symbols) -> str | None:
    """``"text"``, ``"number"``, ``"date"``, ``"boolean"``, ``"category"`` (a tier), or ``None``
    when unknown (an undefined name, an attribute of an unknown type: reported elsewhere)."""
    if isinstance(op, A.Str):
        return "text"
    if isinstance(op, A.Num):
        return "number"
    if isinstance(op, A.Today | A.Shift):
        return "date"
    if isinstance(op, A.Name):
        if op.name in BOOLEANS and table.kind_of(op.name) is None:
            return "boolean"
        t = table.type_of(op.name)
        return t if t in (*schema.TYPES, S.CATEGORY) else None
    return None


def text_or_date(op: A.Operand) -> bool:
    """A text written like a date (``"2025-04-01"``), which may stand for a date."""
    return isinstance(op, A.Str) and DATE_SHAPE.fullmatch(op.value) is not None


def real_date(text: str) -> bool:
    try:
        y, m, d = (int(p) for p in text.split("-"))
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


def not_a_date(op: A.Operand) -> Iterator[Diagnostic]:
    """E0304 for a text written like a date that is no real date (``"2025-02-30"``)."""
    if isinstance(op, A.Str) and text_or_date(op) and not real_date(op.value):
        yield error("E0304", f"{operand_text(op)} is not a real date", op.span,
                    'write dates as "YYYY-MM-DD", such as "2025-04-01"')


def describe(op: A.Operand, t: str) -> str:
    """``"`renewal_date` is a date"``, ``"\\"soon\\" is a text"``, ``"`size` is a tier"``."""
    what = "a tier" if t == S.CATEGORY else f"a {t}"
    if isinstance(op, A.Name) and op.name not in BOOLEANS:
        return f"`{op.name}` is {what}"
    return f"{operand_text(op)} is {what}"


def type_hint(op: A.Operand, want: str, table: S.Symbols, target: str | None = None) -> str | None:
    """How to write ``op`` as a value of type ``want`` (``target`` names what it is compared to)."""
    if isinstance(op, A.Name) and table.kind_of(op.name) == S.TIER:
        tier = table.tiers[op.name]
        return f"`{op.name}` is worked out from `{tier.source}`; compare `{tier.source}` instead"
    if want == S.CATEGORY and target is not None:
        cats = table.categories(target)
        if isinstance(op, A.Str) and op.value in cats:
            return f"categories are written without quotes: {target} is {op.value}"
        if target in table.tiers:
            source = table.tiers[target].source
            return f"its categories are: {', '.join(cats)}; or compare `{source}` itself"
        return None
    if want == "number" and isinstance(op, A.Str) and NUMBER_SHAPE.fullmatch(op.value.strip()):
        return f"write the number without quotes: {op.value.strip()}"
    if want == "text" and isinstance(op, A.Num | A.Name):
        return f'write it in double quotes: "{operand_text(op)}"'
    if want == "boolean" and isinstance(op, A.Str) and op.value.lower() in BOOLEANS:
        return f"write {op.value.lower()} without quotes"
    if want == "boolean":
        return "write true or false, without quotes"
    if want == "date" and isinstance(op, A.Num) and target is not None:
        return f"for a time from now, write `{target} within {op.value} days`"
    if want == "date":
        return 'write a date as "2025-04-01", or use today or a date attribute'
    return None


def mismatch(left: A.Operand, lt: str | None, right: A.Operand, rt: str | None,
             table: S.Symbols) -> Iterator[Diagnostic]:
    """E0302 / E0304 when ``left`` and ``right`` cannot be compared."""
    if lt is None or rt is None:
        return
    if S.CATEGORY in (lt, rt) and (isinstance(left, A.Name) and isinstance(right, A.Name)):
        return  # a category name (or not) on the other side: the names pass says
    a, at, b, bt = left, lt, right, rt
    if not isinstance(left, A.Name) and isinstance(right, A.Name):
        a, at, b, bt = right, rt, left, lt
    if "date" in (at, bt) and "text" in (at, bt):
        text = b if bt == "text" else a
        if text_or_date(text):
            yield from not_a_date(text)
            return
    if at == bt:
        return
    target = a.name if isinstance(a, A.Name) else None
    span = b.span if b.span.line else a.span
    yield error("E0302", f"{describe(a, at)} but {describe(b, bt)}", span,
                type_hint(b, at, table, target))

"""Typed values for the reference interpreter: a lead's raw value as the language sees it, the
two-valued comparison of two values, and the ``*`` glob."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from engine.conditions import model as M
from engine.conditions.model import ConditionError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Typed:
    """A value and its language type (text, number, date, boolean, category); ``None`` is
    unknown."""

    type: str
    value: Any


def typed(t: str, raw: object) -> object | None:
    """A lead's stored value as a value of type ``t``; ``None`` and values of another type are
    unknown (the store's rule for custom attributes, engine.store.fields)."""
    if raw is None:
        return None
    if t == "text":
        return raw if isinstance(raw, str) else None
    if t == "number":
        return raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if t == "boolean":
        return raw if isinstance(raw, bool) else None
    if t == "date":
        if isinstance(raw, dt.datetime):  # an instant counts by its UTC calendar date
            return M.utc(raw).date()
        return raw if isinstance(raw, dt.date) else None
    return None


def json_value(t: str, raw: object) -> object | None:
    """A custom attribute as stored in ``leads.custom`` (JSON): right JSON type or unknown; a
    date is a text written exactly ``YYYY-MM-DD``, a real date from year 1000 on."""
    if t == "number" and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if t == "date":
        if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
            return None
        try:
            d = dt.date.fromisoformat(raw)
        except ValueError:
            return None
        return d if d.year >= 1000 else None
    return typed(t, raw)


def compare_values(left: Typed, op: str, right: Typed) -> bool:
    """``left op right``; false whenever either value is unknown (two-valued logic)."""
    a, b = left.value, right.value
    if a is None or b is None:
        return False
    if op in ("=", "is"):
        return bool(a == b)
    if op in ("!=", "is not"):
        return bool(a != b)
    try:
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        raise ConditionError(f"cannot order a {left.type} and a {right.type}") from None
    raise ConditionError(f"unknown comparison `{op}`")


def glob_match(value: str, pattern: str) -> bool:
    """Whether the whole of ``value`` matches ``pattern``: ``*`` is any run of characters, every
    other character stands for itself; ASCII letters ignore case. Linear-time greedy matching
    (no regular expressions, no backtracking)."""
    v = M.ascii_lower(value)
    parts = M.collapse_stars(M.ascii_lower(pattern)).split("*")
    if len(parts) == 1:
        return v == parts[0]
    first, last = parts[0], parts[-1]
    if len(v) < len(first) + len(last) or not v.startswith(first) or not v.endswith(last):
        return False
    pos, end = len(first), len(v) - len(last)
    for middle in parts[1:-1]:
        found = v.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True

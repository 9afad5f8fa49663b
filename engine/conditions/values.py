"""Single tests of the reference interpreter: a lead's raw value as the language sees it, the
two-valued comparison of two values, the ``*`` glob, and whether one event matches a phrase
with its filters (or a short verb)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from dsl import ast as A
from dsl import schema
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context, Event

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


# ---------------------------------------------------------------- events


def event_matches(e: Event, em: A.EventMatch, ctx: Context) -> bool:
    if e.type not in M.event_types(em, ctx.symbols):
        return False
    return all(filter_passes(e, f) for f in em.filters)


def filter_passes(e: Event, f: A.EventFilter) -> bool:
    if f.kind == "on":
        props = M.on_properties(e.type)
        value = next((e.get(p) for p in props if e.get(p) is not None), None)
        return value is not None and f.value is not None and glob_match(value, f.value.value)
    if f.kind in ("to", "from"):
        return f.value is not None and e.get(f.kind) == f.value.value
    if f.kind == "where":
        return all(prop_passes(e, t) for t in f.tests)
    raise ConditionError(f"unknown event filter `{f.kind}`")


def prop_passes(e: Event, t: A.PropTest) -> bool:
    if t.prop not in schema.EVENT_PROPERTIES:
        raise ConditionError(f"events have no property `{t.prop}`")
    if not isinstance(t.value, A.Str):
        raise ConditionError(f"event property `{t.prop}` is compared with a text only")
    value = e.get(t.prop)
    if value is None:
        return False
    if t.op == "matches":
        return glob_match(value, t.value.value)
    return compare_values(Typed("text", value), t.op, Typed("text", t.value.value))


# The key of a lead mapping (engine.conditions.rows) holding the lead's latest entry into
# each flow: {flow: instant}. Not a language name (it cannot be spelled in a flow).
ENTRIES = "#entries"


def entered(lead: Mapping[str, Any], ctx: Context) -> dt.datetime | None:
    """When the lead last entered the current flow; None: never (or not known)."""
    entries = lead.get(ENTRIES)
    if ctx.flow is None or not isinstance(entries, Mapping):
        return None
    return entries.get(ctx.flow.name)


def did_matches(e: Event, c: A.Did, ctx: Context, since: dt.datetime | None = None) -> bool:
    """``since``: the lead's latest entry into the current flow, for ``clicked STEP``: a click
    on that step's mail counts only from the lead's current run through the flow (a lead who
    re-enters a year later has not clicked yet), and never for a lead that never entered."""
    types, prop = schema.VERBS[c.verb]
    if e.type not in types:
        return False
    match c.target:
        case None:
            return True
        case A.Name(name=step):
            if ctx.flow is None:
                raise ConditionError(f"`{c.verb} {step}` refers to a step of a flow, outside "
                                     "any flow")
            return (e.get("flow") == ctx.flow.name and e.get("step") == step
                    and since is not None and M.utc(e.at) >= M.utc(since))
        case A.Str(value=pattern):
            value = e.get(prop) if prop else None
            return value is not None and glob_match(value, pattern)
    assert_never(c.target)

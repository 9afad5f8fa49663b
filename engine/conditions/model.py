"""What both evaluators of a condition share: the context, events, durations, kinds and globs.

Everything here is a small, pure helper that states one rule of docs/semantics.md; the reference
interpreter (``reference``) and the SQL compiler (``compile``) both call it, so the rule is
written once. Helpers that decide *truth* are not here: each evaluator keeps its own, and the
property tests compare them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dsl import ast as A
from dsl import schema
from dsl import symbols as S

# Fixed lengths (docs/semantics.md "Durations"): a window means the same in every month.
UNIT_SECONDS: Mapping[str, int] = MappingProxyType({
    "minute": 60, "hour": 3600, "day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400,
    "year": 365 * 86_400,
})
DAY = 86_400
BOOLEANS = {"true": True, "false": False}
# The escape character of the LIKE patterns the compiler writes (not a wildcard anywhere).
ESCAPE = "!"


class ConditionError(ValueError):
    """A condition that cannot be evaluated: something the checker reports (an unknown name, a
    step reference outside a flow, ``goal`` without ``goal when``, a cycle of segments). Checked
    flows never raise it."""


@dataclass(frozen=True)
class Context:
    """What a condition may refer to besides the lead: the folder's definitions and the flow it
    belongs to (for ``clicked STEP`` and ``goal``)."""

    symbols: S.Symbols
    flow: A.Flow | None = None

    def for_flow(self, flow: A.Flow | None) -> Context:
        return Context(self.symbols, flow)

    @property
    def custom_types(self) -> dict[str, str]:
        """Declared custom attributes: name -> type (what ``engine.store.fields`` needs)."""
        return {n: a.type for n, a in self.symbols.attributes.items() if not a.core}

    def goal(self) -> A.Condition:
        if self.flow is None:
            raise ConditionError("`goal` is used outside a flow")
        goals = self.flow.settings(A.GoalWhen)
        if not goals:
            raise ConditionError(f"flow `{self.flow.name}` has no `goal when`")
        return goals[0].condition  # type: ignore[no-any-return]

    def segment(self, name: str) -> A.Condition:
        seg = self.symbols.segments.get(name)
        if seg is None:
            raise ConditionError(f"unknown segment `{name}`")
        return seg.condition

    def score(self, name: str) -> A.Score:
        found = self.symbols.scores.get(name)
        if found is None:
            raise ConditionError(f"unknown score `{name}`")
        return found


# The kinds of event the tracking server may flag as automated (engine.track.bots): clicks and
# opens. Conditions skip such events when flagged; scores skip any flagged event.
MACHINE_TYPES = ("email_click", "email_open")


@dataclass(frozen=True)
class Event:
    """One thing that happened to a lead: its kind (``page_view``, a declared ``sales_call``...),
    when (an aware instant), its properties by language name (``url``, ``from``, ``to``...), and
    whether the tracking server judged it automated (``machine``: a link scanner's click, a
    mail proxy's open), which conditions and scores ignore."""

    type: str
    at: dt.datetime
    props: Mapping[str, str | None] = field(default_factory=dict)
    machine: bool = False

    def get(self, prop: str) -> str | None:
        return self.props.get(prop)

    @property
    def automated(self) -> bool:
        """A click or open the tracking server judged automated: no condition sees it (a
        link scanner clicks every link of every message it lets through, seconds after
        delivery; `wait until clicked intro` must wait for a person)."""
        return self.machine and self.type in MACHINE_TYPES


# ---------------------------------------------------------------- durations and dates


def seconds(d: A.Duration) -> int:
    if d.unit not in UNIT_SECONDS:
        raise ConditionError(f"unknown unit of time `{d.unit}`")
    return d.amount * UNIT_SECONDS[d.unit]


def span(d: A.Duration) -> dt.timedelta:
    return dt.timedelta(seconds=seconds(d))


def days(d: A.Duration) -> float:
    """The length in fractional days (half-lives, ages)."""
    return seconds(d) / DAY


def whole_days(d: A.Duration) -> int:
    """How far a calendar date moves: whole days, any remainder dropped (``36 hours`` -> 1)."""
    return seconds(d) // DAY


def shift_days(sign: str, d: A.Duration) -> int:
    return whole_days(d) if sign == "+" else -whole_days(d)


def today(at: dt.datetime) -> dt.date:
    """The UTC calendar date of T."""
    return utc(at).date()


def utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConditionError(f"naive time {at.isoformat()}: give a timezone-aware instant")
    return at.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date:
    """``"2025-04-01"`` (a text written like a date, compared with a date)."""
    try:
        y, m, d = (int(p) for p in text.strip().split("-"))
        return dt.date(y, m, d)
    except ValueError:
        raise ConditionError(f'"{text}" is not a date (write "YYYY-MM-DD")') from None


# ---------------------------------------------------------------- events


def event_types(em: A.EventMatch, symbols: S.Symbols) -> tuple[str, ...]:
    """The stored types an event phrase selects: one kind, or every activity kind."""
    kind = symbols.event_kind(em.words)
    if kind is None:
        raise ConditionError(f"unknown kind of event `{em.phrase}`")
    return schema.ACTIVITY_TYPES if kind == "activity" else (kind,)


def on_properties(event_type: str) -> tuple[str, ...]:
    """What ``on "PATTERN"`` tests: the page's url, the clicked link, and for any other kind
    (``activity on ...``) the url, or the link when there is no url."""
    if event_type == "page_view":
        return ("url",)
    if event_type == "email_click":
        return ("link",)
    return ("url", "link")


def static_type(op: A.Operand, symbols: S.Symbols) -> str | None:
    """text / number / date / boolean / category (a tier), or None (a bare category name)."""
    match op:
        case A.Str():
            return "text"
        case A.Num():
            return "number"
        case A.Today() | A.Shift():
            return "date"
        case A.Name(name=name):
            kind = symbols.kind_of(name)
            if kind is None:
                return "boolean" if name in BOOLEANS else None
            return symbols.type_of(name)
    return None


# ---------------------------------------------------------------- texts and globs

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only (what SQLite's lower() and PostgreSQL's lower() under the
    C collation do): ``contains`` is case-insensitive for ASCII letters and exact otherwise."""
    return text.translate(_ASCII_LOWER)


def collapse_stars(pattern: str) -> str:
    """``a***b`` means ``a*b``: runs of ``*`` collapse (and cannot slow a matcher down)."""
    out: list[str] = []
    for ch in pattern:
        if ch == "*" and out and out[-1] == "*":
            continue
        out.append(ch)
    return "".join(out)


def escape_like(text: str) -> str:
    """A literal text inside a LIKE pattern: the escape character, ``%`` and ``_`` escaped."""
    return (text.replace(ESCAPE, ESCAPE + ESCAPE).replace("%", ESCAPE + "%")
            .replace("_", ESCAPE + "_"))


def like_pattern(op: str, text: str) -> str:
    """The lower-cased LIKE pattern for ``contains`` / ``starts with`` / ``ends with`` /
    ``matches`` (where ``*`` is any run of characters; nothing else is a wildcard)."""
    low = ascii_lower(text)
    if op == "matches":
        return "%".join(escape_like(part) for part in collapse_stars(low).split("*"))
    lit = escape_like(low)
    if op == "contains":
        return f"%{lit}%"
    if op == "starts with":
        return f"{lit}%"
    if op == "ends with":
        return f"%{lit}"
    raise ConditionError(f"unknown text operator `{op}`")

"""The reference interpreter: docs/semantics.md in plain Python, for one lead at one moment T.

It is the oracle the SQL compiler is tested against, and what ``engine explain`` shows, so it is
written to be obviously right rather than fast::

    ctx = Context(symbols.build(modules), flow)
    evaluate(condition, {"employees": 250, "stage": None}, events, at, ctx)   # -> bool
    score_value("interest", lead, events, at, ctx)                           # -> float
    tier_of("size", lead, events, at, ctx)                                   # -> "midsize"

A lead is a mapping from attribute names (core and custom alike) to Python values: ``str``,
``int`` / ``float``, ``datetime.date`` (a ``datetime`` counts by its UTC date) and ``bool``;
``None`` or a value of another type is unknown. ``rows.lead_from_row`` builds one from a ``leads``
row with the store's rules for custom attributes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, assert_never

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context, Event
from engine.conditions.scores import Breakdown, breakdown
from engine.conditions.values import (
    Typed,
    compare_values,
    did_matches,
    entered,
    event_matches,
    glob_match,
    typed,
)


def evaluate(condition: A.Condition, lead: Mapping[str, Any], events: Sequence[Event],
             at: dt.datetime, ctx: Context) -> bool:
    """Whether the condition holds for this lead at T."""
    return Interpreter(lead, events, at, ctx).holds(condition)


def score_value(score: str | A.Score, lead: Mapping[str, Any], events: Sequence[Event],
                at: dt.datetime, ctx: Context) -> float:
    return Interpreter(lead, events, at, ctx).score(score).total


def tier_of(tier: str | A.Tier, lead: Mapping[str, Any], events: Sequence[Event],
            at: dt.datetime, ctx: Context) -> str | None:
    """The tier's category for this lead, or None (unknown source, or no entry matched)."""
    return Interpreter(lead, events, at, ctx).tier(tier)


class Interpreter:
    """One lead, its events as of T, and the context; ``holds`` evaluates any condition."""

    def __init__(self, lead: Mapping[str, Any], events: Sequence[Event], at: dt.datetime,
                 ctx: Context) -> None:
        self.lead = lead
        self.at = M.utc(at)
        self.today = M.today(self.at)
        # Only events that happened at or before T exist at T; clicks and opens judged
        # automated do not exist for conditions (nor for scores, which skip every flagged one).
        self.events = [e for e in events if M.utc(e.at) <= self.at and not e.automated]
        self.ctx = ctx
        self._active: list[str] = []  # segments and scores being evaluated (cycle guard)

    # ------------------------------------------------------------ conditions

    def holds(self, c: A.Condition) -> bool:
        match c:
            case A.And(items=items):
                return all(self.holds(i) for i in items)
            case A.Or(items=items):
                return any(self.holds(i) for i in items)
            case A.Not(item=item):
                return not self.holds(item)
            case A.Compare():
                left, right = self.pair(c.left, c.right)
                return compare_values(left, c.op, right)
            case A.InList():
                return self.in_list(c)
            case A.TextMatch():
                value = self.value(c.left).value
                return isinstance(value, str) and text_match(value, c.op, c.pattern.value)
            case A.Known():
                return (self.value(c.left).value is not None) == c.known
            case A.DateWindow():
                return self.date_window(c)
            case A.Count():
                return self.count(c)
            case A.Did():
                return self.did(c)
            case A.LastEvent():
                return self.last_event(c)
            case A.SegmentRef(name=name):
                return self.guarded(f"segment {name}", lambda: self.holds(
                    self.ctx.segment(name)))
            case A.GoalRef():
                return self.guarded("goal", lambda: self.holds(self.ctx.goal()))
            case _:
                assert_never(c)

    def guarded(self, key: str, fn: Any) -> Any:
        if key in self._active:
            raise ConditionError(f"{key} refers to itself")
        self._active.append(key)
        try:
            return fn()
        finally:
            self._active.pop()

    def in_list(self, c: A.InList) -> bool:
        left = self.value(c.left, peers=c.values)
        if left.value is None:
            return False
        found = [self.value(v, peer=left.type) for v in c.values]
        if c.negated:  # every `x != v` must hold; an unknown v makes its comparison false
            return all(compare_values(left, "!=", v) for v in found)
        return any(compare_values(left, "=", v) for v in found)

    def date_window(self, c: A.DateWindow) -> bool:
        d = self.value(c.left).value
        if not isinstance(d, dt.date):
            return False
        n = M.whole_days(c.duration)
        t = self.today
        if c.op == "within":
            return t <= d <= t + dt.timedelta(days=n)
        if c.op in ("in last", "less than ago"):
            return t - dt.timedelta(days=n) <= d <= t
        if c.op == "more than ago":
            return d < t - dt.timedelta(days=n)
        raise ConditionError(f"unknown date test `{c.op}`")

    # ------------------------------------------------------------ behaviour

    def matching(self, em: A.EventMatch, window: A.Duration | None = None) -> list[Event]:
        return [e for e in self.in_window(window) if event_matches(e, em, self.ctx)]

    def in_window(self, window: A.Duration | None) -> list[Event]:
        if window is None:
            return self.events
        start = self.at - M.span(window)
        return [e for e in self.events if start < M.utc(e.at) <= self.at]

    def count(self, c: A.Count) -> bool:
        n = len(self.matching(c.event, c.window))
        if c.op == "at least":
            return n >= c.n
        if c.op == "at most":
            return n <= c.n
        if c.op == "no":
            return n == 0
        raise ConditionError(f"unknown count `{c.op}`")

    def did(self, c: A.Did) -> bool:
        since = entered(self.lead, self.ctx)
        return any(did_matches(e, c, self.ctx, since) for e in self.in_window(c.window))

    def last_event(self, c: A.LastEvent) -> bool:
        times = [M.utc(e.at) for e in self.matching(c.event)]
        if not times:
            return False
        cutoff = self.at - M.span(c.duration)
        return max(times) < cutoff if c.more else max(times) >= cutoff

    # ------------------------------------------------------------ values

    def pair(self, left: A.Operand, right: A.Operand) -> tuple[Typed, Typed]:
        lt = M.static_type(left, self.ctx.symbols)
        rt = M.static_type(right, self.ctx.symbols)
        return self.value(left, peer=rt), self.value(right, peer=lt)

    def value(self, op: A.Operand, peer: str | None = None,
              peers: tuple[A.Operand, ...] = ()) -> Typed:
        """The operand's value, typed; ``peer``: the type of what it is compared with (a bare
        name compared with a tier is a category, a text compared with a date is a date)."""
        if peers and peer is None:
            types = {M.static_type(p, self.ctx.symbols) for p in peers} - {None}
            peer = types.pop() if len(types) == 1 else None
        match op:
            case A.Str(value=text):
                return Typed("date", M.parse_date(text)) if peer == "date" else Typed("text", text)
            case A.Num(value=number):
                return Typed("number", number)
            case A.Today():
                return Typed("date", self.today)
            case A.Shift(base=base, sign=sign, duration=duration):
                d = self.value(base, peer="date").value
                if not isinstance(d, dt.date):
                    return Typed("date", None)
                return Typed("date", d + dt.timedelta(days=M.shift_days(sign, duration)))
            case A.Name(name=name):
                return self.name(name, peer)
        raise ConditionError(f"cannot evaluate {op!r}")

    def name(self, name: str, peer: str | None) -> Typed:
        symbols = self.ctx.symbols
        kind = symbols.kind_of(name)
        if peer == "category" and kind is None:
            return Typed("category", name)
        if kind == "attribute":
            t = symbols.attributes[name].type
            return Typed(t, typed(t, self.lead.get(name)))
        if kind == "tier":
            return Typed("category", self.tier(name))
        if kind == "score":
            return Typed("number", self.score(name).total)
        if kind is None and name in M.BOOLEANS:
            return Typed("boolean", M.BOOLEANS[name])
        raise ConditionError(f"`{name}` is not an attribute, tier or score")

    def tier(self, tier: str | A.Tier) -> str | None:
        t = self.ctx.symbols.tiers.get(tier) if isinstance(tier, str) else tier
        if t is None:
            raise ConditionError(f"unknown tier `{tier}`")
        source = self.guarded(f"tier {t.name}", lambda: self.name(t.source, None).value)
        if source is None:
            return None
        for entry in t.entries:
            if tier_rule_matches(entry.rule, source):
                return entry.name
        return None

    def score(self, score: str | A.Score) -> Breakdown:
        s = self.ctx.score(score) if isinstance(score, str) else score
        return self.guarded(f"score {s.name}", lambda: breakdown(
            s, self.at, lambda w: self.in_window(w), self.holds,
            lambda e, em: event_matches(e, em, self.ctx)))


# ---------------------------------------------------------------- single rules


def text_match(value: str, op: str, pattern: str) -> bool:
    v, p = M.ascii_lower(value), M.ascii_lower(pattern)
    if op == "contains":
        return p in v
    if op == "starts with":
        return v.startswith(p)
    if op == "ends with":
        return v.endswith(p)
    if op == "matches":
        return glob_match(value, pattern)
    raise ConditionError(f"unknown text operator `{op}`")


def tier_rule_matches(rule: A.TierRule, value: object) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if rule.kind == "between":
        return number and rule.low <= value <= rule.high  # type: ignore[operator]
    if rule.kind == "at least":
        return number and value >= rule.low  # type: ignore[operator]
    if rule.kind == "below":
        return number and value < rule.high  # type: ignore[operator]
    if rule.kind == "matches":
        return isinstance(value, str) and any(glob_match(value, p) for p in rule.texts)
    if rule.kind == "in":
        return isinstance(value, str) and value in rule.texts
    if rule.kind == "otherwise":
        return True
    raise ConditionError(f"unknown tier rule `{rule.kind}`")

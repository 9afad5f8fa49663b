"""The SQL compiler's scores: weighted, filtered, windowed counts of events with half-life decay
computed in SQL, plus ``when`` points, capped (docs/semantics.md "Scores").

Shapes (the planner's choice, engine.conditions.plan): *per lead*, one correlated scalar
subquery per score (all its event lines in one pass over the lead's events on the ``(lead_id,
type, occurred_at)`` index); *events first*, one aggregate per score (``SELECT lead_id,
sum(...) ... GROUP BY lead_id``) LEFT JOINed to ``leads`` (``Compiled.joins``). Either way the
points of an event are one ``CASE type WHEN ...`` with, per type, only the lines of that type, and
a line's window is tested only where it is narrower than the range all rows come from.

Decay is ``power(0.5, age_days / half_life_days)``, the exponent clamped at 1000 where an
event can be old enough to need it (PostgreSQL raises an error when a power underflows; 0.5^1000
is 1e-301, i.e. nothing). SQLite measures the age with ``julianday()``; PostgreSQL with
``EXTRACT(EPOCH ...)``.

Events flagged ``machine`` (link scanners, mail prefetch: the tracking server's verdict in
``events.machine``, TRUE or NULL) never score; counts and the short verbs still see them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context
from engine.conditions.plan import Probe
from engine.conditions.scores import Options, options
from engine.conditions.sql_events import Alias, Events
from engine.conditions.sql_values import FLIP, SqlValue, condition_categories
from engine.store.schema import events, leads

MAX_HALVINGS = 1000
JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01 00:00:00')
# The store flags automated clicks and opens from migration 0004 on (engine.store.schema).
MACHINE = "machine" in events.c


class Scores(Events):
    def score_value(self, name: str) -> ColumnElement[Any]:
        total, cap = self.score_parts(name)
        if cap is None:
            return total
        least = sa.func.least if self.pg else sa.func.min
        return least(total, self.points(cap, "cap"), type_=sa.Float())

    def score_parts(self, name: str) -> tuple[ColumnElement[Any], float | None]:
        """The score's total before its cap, and the cap (None: none), compiled once."""
        if name not in self.scores:
            score = self.ctx.score(name)
            self.scores[name] = self.guarded(f"score {name}", lambda: (
                self.score_expr(score), options(score).cap))
        return self.scores[name]

    def compile_compare(self, c: A.Compare) -> ColumnElement[bool]:
        """A capped score against a number compares the total itself where the cap cannot
        change the outcome (``fit >= 50`` with ``at most 100``): one min() less per lead."""
        left, op, right = c.left, c.op, c.right
        if isinstance(left, A.Num) and op in FLIP:
            left, op, right = right, FLIP[op], left
        if isinstance(left, A.Name) and isinstance(right, A.Num) and op in FLIP \
                and self.ctx.symbols.kind_of(left.name) == "score":
            total, cap = self.score_parts(left.name)
            if cap is not None:
                return capped_compare(total, op, right.value, cap, self.number)
        return super().compile_compare(c)

    def score_expr(self, score: A.Score) -> ColumnElement[Any]:
        opts = options(score)
        lines = [ln for ln in score.lines if isinstance(ln, A.EventPoints)]
        parts: list[ColumnElement[Any]] = []
        if lines:
            parts.append(self.event_points(lines, opts))
        whens = [ln for ln in score.lines if isinstance(ln, A.WhenPoints)]
        parts += self.positive(lambda: self.when_points(whens))
        total: ColumnElement[Any] = sa.cast(sa.literal_column("0"), sa.Float()) if not parts \
            else parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def when_points(self, lines: list[A.WhenPoints]) -> list[ColumnElement[Any]]:
        """The ``when`` lines, a CASE each; lines that can never hold together share one CASE,
        as one would write it by hand: tests of one tier for disjoint categories (``+30 when
        sector in (trading, manufacturing)``, ``-20 when sector in (warehousing, banking)``:
        each rule tested once, a later WHEN without the entries an earlier one ruled out) and
        one attribute equal to different constants (``CASE travel WHEN 'frequent' ...``: the
        value read once)."""
        groups: dict[tuple[str, str], list[A.WhenPoints]] = {}
        for ln in lines:
            groups.setdefault(self.exclusive_key(ln.condition), []).append(ln)
        out = []
        for (kind, _), group in groups.items():
            if kind == "tier" and len(group) > 1 and self.disjoint_tiers(group):
                out.append(self.tier_points(group))
            elif kind == "equals" and len(group) > 1 and self.distinct_values(group):
                out.append(self.equal_points(group))
            else:
                out += [sa.case((self.condition(ln.condition), self.points(ln.points)),
                                else_=0.0) for ln in group]
        return out

    def exclusive_key(self, c: A.Condition) -> tuple[str, str]:
        """How a ``when`` condition may share a CASE: ("tier", tier), ("equals", attribute),
        or a key of its own."""
        found = condition_categories(c, self.ctx)
        if found is not None:
            return ("tier", found[0].name)
        if isinstance(c, A.Compare) and c.op in ("is", "=") and isinstance(c.left, A.Name) \
                and self.ctx.symbols.kind_of(c.left.name) == "attribute" \
                and isinstance(c.right, A.Str | A.Num):
            return ("equals", c.left.name)
        return ("own", str(id(c)))

    def disjoint_tiers(self, group: list[A.WhenPoints]) -> bool:
        sets = [categories_of(ln.condition, self.ctx)[1] for ln in group]
        return all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1:])

    def tier_points(self, group: list[A.WhenPoints]) -> ColumnElement[Any]:
        ruled_out: frozenset[str] = frozenset()
        whens = []
        for ln in group:
            tier, wanted = categories_of(ln.condition, self.ctx)
            whens.append((self.tier_in(tier, wanted, ruled_out), self.points(ln.points)))
            ruled_out |= wanted
        return sa.case(*whens, else_=0.0)

    def distinct_values(self, group: list[A.WhenPoints]) -> bool:
        values = [self.pair_of(ln.condition)[1].constant for ln in group]
        return all(a != b for i, a in enumerate(values) for b in values[i + 1:])

    def equal_points(self, group: list[A.WhenPoints]) -> ColumnElement[Any]:
        left = self.pair_of(group[0].condition)[0]
        whens = [(self.pair_of(ln.condition)[1].expr, self.points(ln.points)) for ln in group]
        return sa.case(*whens, value=left.expr, else_=0.0)

    def pair_of(self, c: A.Condition) -> tuple[SqlValue, SqlValue]:
        assert isinstance(c, A.Compare)
        return self.pair(c.left, c.right)

    def points(self, value: int | float, role: str = "points") -> ColumnElement[Any]:
        return self.param(role, float(value), sa.Float())

    def event_points(self, lines: list[A.EventPoints], opts: Options) -> ColumnElement[Any]:
        e = self.events_alias()
        spans = [ln.window or opts.window for ln in lines]
        # Rows come from T - widest window on, when every line has a window; else from always.
        widest = None if any(w is None for w in spans) else max(
            M.span(w) for w in spans if w is not None)
        by_type: dict[str, list[ColumnElement[Any]]] = {}
        for ln, window in zip(lines, spans, strict=True):
            types = M.event_types(ln.event, self.ctx.symbols)
            for t in types:
                tests = [test for f in ln.event.filters for test in self.filter_tests(e, f, (t,))]
                if window is not None and M.span(window) != widest:
                    tests.append(e.c.occurred_at > self.instant(self.at - M.span(window),
                                                                 "since"))
                points = self.points(ln.points)
                term = sa.case((sa.and_(*tests), points), else_=0.0) if tests else points
                by_type.setdefault(t, []).append(term)
        per_event: ColumnElement[Any] = sa.case(*((self.text(t, "type"), _sum(terms))
                              for t, terms in by_type.items()), value=e.c.type, else_=0.0)
        h = opts.half_life_days
        if h is not None:
            oldest = widest.total_seconds() / M.DAY if widest is not None else None
            per_event = per_event * self.decay(e, h, oldest)
        types = tuple(by_type)
        where = [e.c.occurred_at <= self.instant(self.at), self.types_test(e, types)]
        if widest is not None:  # no event older than the widest window counts
            where.append(e.c.occurred_at > self.instant(self.at - widest, "since"))
        if MACHINE:
            where.append(e.c.machine.is_not(sa.true()))
        total = sa.func.sum(per_event, type_=sa.Float())
        since = None if widest is None else self.at - widest
        rows = MACHINE or any(ln.event.filters for ln in lines)
        if self.planner.events_first(Probe("score", types, since, self.at, tuple(self.reach),
                                           rows)):
            derived = (sa.select(e.c.lead_id, total.label("points")).where(*where)
                       .group_by(e.c.lead_id).subquery(self.name("score")))
            self.joins.append((derived, derived.c.lead_id == leads.c.id))
            return sa.func.coalesce(derived.c.points, 0.0, type_=sa.Float())
        return (sa.select(sa.func.coalesce(total, 0.0, type_=sa.Float())).select_from(e)
                .where(e.c.lead_id == leads.c.id, *where).scalar_subquery())

    def age_days(self, e: Alias) -> ColumnElement[Any]:
        if self.pg:
            epoch = self.param("at_epoch", self.at.timestamp(), sa.Float())
            seconds = sa.cast(sa.extract("epoch", e.c.occurred_at), sa.Float())
            return (epoch - seconds) / 86400.0
        at_jd = self.param("at_julian", self.at.timestamp() / M.DAY + JULIAN_EPOCH, sa.Float())
        return at_jd - sa.func.julianday(e.c.occurred_at, type_=sa.Float())

    def decay(self, e: Alias, half_life_days: float,
              oldest_days: float | None = None) -> ColumnElement[Any]:
        """0.5 ^ (age / half-life); ``oldest_days``: the greatest age an event read can have
        (None: any), to leave out the clamp where it can never apply."""
        if half_life_days <= 0:
            raise ConditionError("a half-life must be longer than zero")
        halvings = self.age_days(e) / self.param("half_life", half_life_days, sa.Float())
        if oldest_days is None or oldest_days / half_life_days > MAX_HALVINGS:
            halvings = sa.case((halvings > MAX_HALVINGS, float(MAX_HALVINGS)), else_=halvings)
        return sa.func.power(self.param("half", 0.5, sa.Float()), halvings, type_=sa.Float())


def categories_of(c: A.Condition, ctx: Context) -> tuple[A.Tier, set[str]]:
    found = condition_categories(c, ctx)
    assert found is not None
    return found


def capped_compare(total: ColumnElement[Any], op: str, k: int | float, cap: float,
                   number: Callable[[int | float], ColumnElement[Any]]) -> ColumnElement[bool]:
    """``min(total, cap) <op> k`` without the min(): scores are never NULL, so each case is
    exact (``>= k`` is ``total >= k`` when k <= cap, else never; ``<= k`` always when cap <=
    k, else ``total <= k``)."""
    if op == ">=":
        return total >= number(k) if k <= cap else sa.false()
    if op == ">":
        return total > number(k) if k < cap else sa.false()
    if op == "<=":
        return sa.true() if cap <= k else total <= number(k)
    return sa.true() if cap < k else total < number(k)


def _sum(terms: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total

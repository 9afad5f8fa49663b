"""The SQL compiler's scores: weighted, filtered, windowed counts of events with half-life decay
computed in SQL, plus ``when`` points, capped (docs/semantics.md "Scores").

Shapes: SQLite gets one correlated scalar subquery per score (all its event lines in one pass
over the lead's events on the ``(lead_id, type, occurred_at)`` index); PostgreSQL gets one
events-first aggregate per score (``SELECT lead_id, sum(...) ... GROUP BY lead_id``) LEFT JOINed
to ``leads`` (``Compiled.joins``), which it hashes once instead of probing per lead.

Decay is ``power(0.5, min(age_days / half_life_days, 1000))``: the exponent is clamped because
PostgreSQL raises an error when a power underflows (0.5^1000 is 1e-301, i.e. nothing).
SQLite measures the age with ``julianday()``; PostgreSQL with ``EXTRACT(EPOCH ...)``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError
from engine.conditions.scores import Options, options
from engine.conditions.sql_events import Alias, Events
from engine.store.schema import leads

MAX_HALVINGS = 1000
JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01 00:00:00')


class Scores(Events):
    def score_value(self, name: str) -> ColumnElement[Any]:
        if name not in self.scores:
            score = self.ctx.score(name)
            self.scores[name] = self.guarded(f"score {name}", lambda: self.score_expr(score))
        return self.scores[name]

    def score_expr(self, score: A.Score) -> ColumnElement[Any]:
        opts = options(score)
        lines = [ln for ln in score.lines if isinstance(ln, A.EventPoints)]
        parts: list[ColumnElement[Any]] = []
        if lines:
            parts.append(self.event_points(lines, opts))
        for ln in score.lines:
            if isinstance(ln, A.WhenPoints):
                parts.append(sa.case((self.condition(ln.condition), self.points(ln.points)),
                                     else_=0.0))
        total: ColumnElement[Any] = sa.cast(sa.literal_column("0"), sa.Float()) if not parts \
            else parts[0]
        for p in parts[1:]:
            total = total + p
        if opts.cap is None:
            return total
        least = sa.func.least if self.pg else sa.func.min
        return least(total, self.points(opts.cap, "cap"), type_=sa.Float())

    def points(self, value: int | float, role: str = "points") -> ColumnElement[Any]:
        return self.param(role, float(value), sa.Float())

    def event_points(self, lines: list[A.EventPoints], opts: Options) -> ColumnElement[Any]:
        e = self.events_alias()
        types: list[str] = []
        windows: list[A.Duration | None] = []
        per_event: ColumnElement[Any] | None = None
        for ln in lines:
            window = ln.window or opts.window
            windows.append(window)
            tests = self.match_tests(e, ln.event)
            if window is not None:
                tests.append(e.c.occurred_at > self.instant(self.at - M.span(window), "since"))
            types += [t for t in M.event_types(ln.event, self.ctx.symbols) if t not in types]
            term = sa.case((sa.and_(*tests), self.points(ln.points)), else_=0.0)
            per_event = term if per_event is None else per_event + term
        assert per_event is not None
        h = opts.half_life_days
        if h is not None:
            per_event = per_event * self.decay(e, h)
        where = [e.c.occurred_at <= self.instant(self.at), self.types_test(e, tuple(types))]
        if all(w is not None for w in windows):  # no event older than the widest window counts
            widest = max(M.span(w) for w in windows if w is not None)
            where.append(e.c.occurred_at > self.instant(self.at - widest, "since"))
        total = sa.func.sum(per_event, type_=sa.Float())
        if self.pg:
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

    def decay(self, e: Alias, half_life_days: float) -> ColumnElement[Any]:
        if half_life_days <= 0:
            raise ConditionError("a half-life must be longer than zero")
        halvings = self.age_days(e) / self.param("half_life", half_life_days, sa.Float())
        clamped = sa.case((halvings > MAX_HALVINGS, float(MAX_HALVINGS)), else_=halvings)
        return sa.func.power(self.param("half", 0.5, sa.Float()), clamped, type_=sa.Float())

"""Conditions -> SQLAlchemy Core, per dialect: the audience of a condition selected inside the
database, set-based, with no per-lead Python anywhere.

    compiled = compile_condition(condition, ctx, at, "postgresql")
    query = audience(condition, ctx, at, engine)        # SELECT leads.id ... ORDER BY leads.id
    ids = [row.id for row in conn.execute(query)]

The result is a boolean expression over ``leads`` (``Compiled.where``) plus the events-first
score aggregates it reads (``Compiled.joins``, LEFT JOINed by ``Compiled.from_()``). Names reach
SQL only through the store's allowlist (engine.store.fields) and every literal is a bound
parameter. Each form means exactly what docs/semantics.md says; tests/engine/
test_sql_vs_reference.py holds the compiler to the reference interpreter on both dialects, in
every shape.

Given a connection (or engine) rather than a dialect name, the compiler measures the data to
shape each event test per lead or events first (engine.conditions.plan): a few milliseconds of
index counts or planner estimates, worth 5-25x on the query (docs/benchmarks.md, "Audiences").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.sql import ColumnElement, FromClause

from dsl import ast as A
from engine.conditions.model import Context
from engine.conditions.plan import FixedPlanner, MeasuredPlanner, Planner
from engine.conditions.sql_events import shared_count_key
from engine.conditions.sql_scores import Scores
from engine.store.schema import leads


class Compiler(Scores):
    """One compilation: a context, a moment T and a dialect. ``condition`` dispatches each node
    kind to its ``compile_<node>``; values, events and scores live in the base classes."""

    def condition(self, c: A.Condition) -> ColumnElement[bool]:
        match c:
            case A.And():
                return self.compile_and(c)
            case A.Or():
                return self.compile_or(c)
            case A.Not():
                return self.compile_not(c)
            case A.Compare():
                return self.compile_compare(c)
            case A.InList():
                return self.compile_in_list(c)
            case A.TextMatch():
                return self.compile_text_match(c)
            case A.Known():
                return self.compile_known(c)
            case A.DateWindow():
                return self.compile_date_window(c)
            case A.Count():
                return self.compile_count(c)
            case A.Did():
                return self.compile_did(c)
            case A.LastEvent():
                return self.compile_last_event(c)
            case A.SegmentRef():
                return self.compile_segment_ref(c)
            case A.GoalRef():
                return self.compile_goal_ref(c)
            case _:
                assert_never(c)

    def compile_and(self, c: A.And) -> ColumnElement[bool]:
        """Tests of lead columns first, cheapest first; then the tests that read events, most
        selective for their cost first (measured on a sample where the database evaluates
        terms in the order written, as SQLite does: ``at least 5 page views`` before ``no email
        click``), each shaped knowing the tests before it (``reach``: the leads that get that
        far)."""
        outer = self.reach
        ordered = self.cheap_first(c.items)
        events_read = [reads_events(i, self.ctx) for i in ordered]
        tests: list[ColumnElement[bool]] = []
        try:
            for item, reads in zip(ordered, events_read, strict=True):
                if not reads:
                    tests.append(self.condition(item))
                    self.reach = [*self.reach, tests[-1]]
            event_side = [i for i, reads in zip(ordered, events_read, strict=True) if reads]
            for item, measured in self.selective_first(event_side):
                tests.append(self.condition(item))
                if measured is not None:
                    self.reach = [*self.reach, measured]
        finally:
            self.reach = outer
        return sa.and_(*tests)

    def selective_first(self, items: list[A.Condition]
                        ) -> list[tuple[A.Condition, ColumnElement[bool] | None]]:
        """``items`` by cost / share of leads ruled out, ascending (the order that minimises
        the expected cost of a conjunction), with the per-lead form of each where the planner
        measured the shares on it (then later items see the earlier ones in ``reach``)."""
        if len(items) < 2:
            return [(i, None) for i in items]
        probes: list[ColumnElement[bool]] = []

        def made() -> list[ColumnElement[bool]]:
            probes[:] = self.per_lead(items)
            return probes

        rates = self.planner.pass_rates(self.reach, made)
        measured: list[ColumnElement[bool] | None] = list(probes)
        if rates is None:
            rates, measured = [likely(i, self.ctx) for i in items], [None] * len(items)
        found = [(i, t, cost(i, self.ctx) / max(1.0 - r, 1e-3))
                 for i, t, r in zip(items, measured, rates, strict=True)]
        return [(i, t) for i, t, _ in sorted(found, key=lambda f: f[2])]

    def per_lead(self, items: list[A.Condition]) -> list[ColumnElement[bool]]:
        """The items compiled per lead, apart from this compilation (scores and joins are
        not shared with it): what a sample of leads can evaluate cheaply."""
        saved = (self.planner, self.scores, self.joins)
        self.planner, self.scores, self.joins = FixedPlanner(False), {}, []
        try:
            return [self.condition(i) for i in items]
        finally:
            self.planner, self.scores, self.joins = saved

    def compile_or(self, c: A.Or) -> ColumnElement[bool]:
        return sa.or_(*self.compile_counts_together(self.cheap_first(c.items)))

    def cheap_first(self, items: tuple[A.Condition, ...]) -> list[A.Condition]:
        """Cheapest tests first: SQLite evaluates the terms of a WHERE in the order written and
        stops at the first that decides, so plain column tests should come before globs, custom
        attributes and tiers, and those before event lookups and scores (the result is the same
        in any order: every term is free of effects, and TRUE or FALSE where order matters)."""
        return sorted(items, key=lambda i: cost(i, self.ctx))

    def compile_not(self, c: A.Not) -> ColumnElement[bool]:
        # Every test compiled under a `not` is TRUE or FALSE, never NULL (Base.two_valued), so
        # NOT is plain negation.
        self.negated += 1
        try:
            return sa.not_(self.condition(c.item))
        finally:
            self.negated -= 1

    def compile_segment_ref(self, c: A.SegmentRef) -> ColumnElement[bool]:
        return self.guarded(f"segment {c.name}", lambda: self.condition(
            self.ctx.segment(c.name)))

    def compile_goal_ref(self, c: A.GoalRef) -> ColumnElement[bool]:
        return self.guarded("goal", lambda: self.condition(self.ctx.goal()))


# Rough cost of evaluating a test for one lead, in units of a plain column comparison.
COLUMN, GLOB, DATE_OF, CUSTOM, CUSTOM_DATE = 1.0, 3.0, 4.0, 15.0, 30.0
EXISTS, COUNT, SCORE = 200.0, 400.0, 2000.0


def cost(c: A.Condition, ctx: Context, seen: frozenset[str] = frozenset()) -> float:
    """What ``cheap_first`` sorts by: the rough per-lead cost of a condition (a sum over its
    parts; a segment or the goal costs what its condition costs)."""
    match c:
        case A.And(items=items):
            return sum(cost(i, ctx, seen) for i in items)
        case A.Or(items=items):  # counts read together (compile_counts_together) cost one
            keys = [shared_count_key(i, ctx) for i in items]
            return sum(cost(i, ctx, seen) for n, (i, key) in enumerate(
                zip(items, keys, strict=True)) if key is None or key not in keys[:n])
        case A.Not(item=item):
            return cost(item, ctx, seen)
        case A.Count(op=op, n=n):
            return COUNT if op in ("at least", "at most") and n > 1 or op == "at most" \
                else EXISTS
        case A.Did():
            return EXISTS
        case A.LastEvent(more=more):
            return 2 * EXISTS if more else EXISTS
        case A.SegmentRef(name=name):
            segment = ctx.symbols.segments.get(name)
            if segment is None or name in seen:
                return 0.0
            return cost(segment.condition, ctx, seen | {name})
        case A.GoalRef():
            goals = ctx.flow.settings(A.GoalWhen) if ctx.flow is not None else []
            return cost(goals[0].condition, ctx, seen | {"goal"}) if goals and \
                "goal" not in seen else 0.0
        case A.TextMatch():
            return GLOB + sum(operand_cost(n.name, ctx) for n in _names(c))
    return COLUMN + sum(operand_cost(n.name, ctx) for n in _names(c))


def likely(c: A.Condition, ctx: Context, seen: frozenset[str] = frozenset()) -> float:
    """A guess at the share of leads that pass an event test, where nothing is measured:
    asking for several events is selective, asking for none rarely is."""
    match c:
        case A.And(items=items):
            return math.prod(likely(i, ctx, seen) for i in items)
        case A.Or(items=items):
            return 1.0 - math.prod(1.0 - likely(i, ctx, seen) for i in items)
        case A.Not(item=item):
            return 1.0 - likely(item, ctx, seen)
        case A.Count(op="at least", n=n) if n > 1:
            return 0.1
        case A.Count(op="no") | A.Count(op="at most"):
            return 0.9
        case A.SegmentRef(name=name) if name not in seen and name in ctx.symbols.segments:
            return likely(ctx.symbols.segments[name].condition, ctx, seen | {name})
    return 0.5


def reads_events(c: A.Condition, ctx: Context, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a condition looks at events (directly, or through a segment, the goal or a
    score with event lines); one that does not is a test of lead columns only."""
    match c:
        case A.And(items=items) | A.Or(items=items):
            return any(reads_events(i, ctx, seen) for i in items)
        case A.Not(item=item):
            return reads_events(item, ctx, seen)
        case A.Count() | A.Did() | A.LastEvent():
            return True
        case A.SegmentRef(name=name):
            segment = ctx.symbols.segments.get(name)
            return segment is not None and name not in seen and reads_events(
                segment.condition, ctx, seen | {name})
        case A.GoalRef():
            goals = ctx.flow.settings(A.GoalWhen) if ctx.flow is not None else []
            return bool(goals) and "goal" not in seen and reads_events(
                goals[0].condition, ctx, seen | {"goal"})
    return any(name_reads_events(n.name, ctx, seen) for n in _names(c))


def name_reads_events(name: str, ctx: Context, seen: frozenset[str]) -> bool:
    symbols = ctx.symbols
    kind = symbols.kind_of(name)
    if kind == "tier" and name not in seen:
        return name_reads_events(symbols.tiers[name].source, ctx, seen | {name})
    if kind == "score" and name not in seen:
        score = symbols.scores[name]
        return any(isinstance(ln, A.EventPoints) or isinstance(ln, A.WhenPoints) and
                   reads_events(ln.condition, ctx, seen | {name}) for ln in score.lines)
    return False


def operand_cost(name: str, ctx: Context, seen: frozenset[str] = frozenset()) -> float:
    symbols = ctx.symbols
    kind = symbols.kind_of(name)
    if kind == "attribute":
        attr = symbols.attributes[name]
        if not attr.core:
            return CUSTOM_DATE if attr.type == "date" else CUSTOM
        return DATE_OF if attr.type == "date" else 0.0
    if kind == "tier" and name not in seen:
        t = symbols.tiers[name]
        rules = sum(GLOB * len(e.rule.texts) if e.rule.kind == "matches" else COLUMN
                    for e in t.entries)
        return rules + operand_cost(t.source, ctx, seen | {name})
    if kind == "score" and name not in seen:
        score = symbols.scores[name]
        if any(isinstance(ln, A.EventPoints) for ln in score.lines):
            return SCORE
        return sum(cost(ln.condition, ctx, seen | {name}) for ln in score.lines
                   if isinstance(ln, A.WhenPoints))
    return 0.0


def _names(c: A.Condition) -> list[A.Name]:
    ops: list[A.Operand] = []
    match c:
        case A.Compare(left=left, right=right):
            ops = [left, right]
        case A.InList(left=left, values=values):
            ops = [left, *values]
        case A.TextMatch(left=left) | A.Known(left=left) | A.DateWindow(left=left):
            ops = [left]
    out = []
    for op in ops:
        while isinstance(op, A.Shift):
            op = op.base
        if isinstance(op, A.Name):
            out.append(op)
    return out


@dataclass
class Compiled:
    """A compiled condition: ``where`` over ``leads`` and the joins it needs (events-first
    score aggregates). Use ``from_()`` as the FROM clause of any query on leads. ``where`` is
    TRUE where the condition holds, and FALSE or NULL where it does not (the NULL of an unknown
    value needs no guard in a WHERE): negate a condition with ``A.Not`` before compiling it,
    never with SQL ``NOT`` after."""

    where: ColumnElement[bool]
    joins: list[tuple[FromClause, ColumnElement[bool]]] = field(default_factory=list)
    dialect: str = "sqlite"

    def from_(self, base: FromClause = leads) -> FromClause:
        out = base
        for table, on in self.joins:
            out = out.outerjoin(table, on)
        return out


DialectLike = str | Dialect | Engine | Connection


def dialect_name(dialect: DialectLike) -> str:
    if isinstance(dialect, str):
        return dialect
    if isinstance(dialect, Engine | Connection):
        return dialect.dialect.name
    return dialect.name


def compile_condition(condition: A.Condition, ctx: Context, at: dt.datetime,
                      dialect: DialectLike, planner: Planner | None = None) -> Compiled:
    """``dialect``: a name ("sqlite" / "postgresql": fixed shapes), or the connection or engine
    the query will run on (shapes measured on its data, unless ``planner`` is given)."""
    compiled, (where,) = compile_together([condition], ctx, at, dialect, planner)
    return Compiled(where, compiled.joins, compiled.dialect)


def compile_together(conditions: Sequence[A.Condition], ctx: Context, at: dt.datetime,
                     dialect: DialectLike, planner: Planner | None = None,
                     planners: Sequence[Planner | None] = (),
                     ) -> tuple[Compiled, list[ColumnElement[bool]]]:
    """Several conditions in one compilation, for a query that places their tests apart (in an
    order of its own, with other terms between): parameters and aliases are named once for
    all (two compilations would both have a ``text_1``), and the joins they need are shared.
    ``planners``: a planner of its own for the condition at the same position (None: the
    common one), e.g. per lead for tests that few leads reach. Returns the joins
    (``from_()``, whose ``where`` ANDs them all) and each condition's test."""
    name = dialect_name(dialect)
    if planner is None and isinstance(dialect, Engine):
        with dialect.connect() as conn:
            return compile_together(conditions, ctx, at, conn, planners=planners)
    if planner is None and isinstance(dialect, Connection):
        planner = MeasuredPlanner(dialect)
    compiler = Compiler(ctx, at, name, planner)
    common = compiler.planner
    wheres = []
    for i, c in enumerate(conditions):
        own = planners[i] if i < len(planners) else None
        compiler.planner = own if own is not None else common
        wheres.append(compiler.condition(c))
    return Compiled(sa.and_(*wheres), compiler.joins, name), wheres


def audience(condition: A.Condition, ctx: Context, at: dt.datetime,
             dialect: DialectLike, *columns: ColumnElement[Any],
             planner: Planner | None = None) -> sa.Select[Any]:
    """``SELECT leads.id`` (or ``columns``) of the leads matching ``condition`` at T, ordered by
    id. ``dialect``: "sqlite" / "postgresql", or the engine / connection it will run on."""
    compiled = compile_condition(condition, ctx, at, dialect, planner)
    return (sa.select(*(columns or (leads.c.id,))).select_from(compiled.from_())
            .where(compiled.where).order_by(leads.c.id))


def count_query(condition: A.Condition, ctx: Context, at: dt.datetime,
                dialect: DialectLike, planner: Planner | None = None) -> sa.Select[Any]:
    """``SELECT count(*)`` of the audience."""
    compiled = compile_condition(condition, ctx, at, dialect, planner)
    return sa.select(sa.func.count()).select_from(compiled.from_()).where(compiled.where)

"""Conditions -> SQLAlchemy Core, per dialect: the audience of a condition selected inside the
database, set-based, with no per-lead Python anywhere.

    compiled = compile_condition(condition, ctx, at, "postgresql")
    query = audience(condition, ctx, at, engine)        # SELECT leads.id ... ORDER BY leads.id
    ids = [row.id for row in conn.execute(query)]

The result is a boolean expression over ``leads`` (``Compiled.where``) plus, on PostgreSQL, the
score aggregates it reads (``Compiled.joins``, LEFT JOINed by ``Compiled.from_()``). Names reach
SQL only through the store's allowlist (engine.store.fields) and every literal is a bound
parameter. Each form means exactly what docs/semantics.md says; tests/engine/
test_sql_vs_reference.py holds the compiler to the reference interpreter on both dialects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, assert_never

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.sql import ColumnElement, FromClause

from dsl import ast as A
from engine.conditions.model import Context
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
        return sa.and_(*(self.condition(i) for i in self.cheap_first(c.items)))

    def compile_or(self, c: A.Or) -> ColumnElement[bool]:
        return sa.or_(*(self.condition(i) for i in self.cheap_first(c.items)))

    def cheap_first(self, items: tuple[A.Condition, ...]) -> list[A.Condition]:
        """Attribute tests before event lookups before scores: SQLite evaluates the terms of a
        WHERE in the order written, so the selective lead filters should come first (the
        result is the same in any order: every term is two-valued and free of effects)."""
        return sorted(items, key=lambda i: cost(i, self.ctx))

    def compile_not(self, c: A.Not) -> ColumnElement[bool]:
        # Every compiled test is TRUE or FALSE, never NULL, so NOT is plain negation.
        return sa.not_(self.condition(c.item))

    def compile_segment_ref(self, c: A.SegmentRef) -> ColumnElement[bool]:
        return self.guarded(f"segment {c.name}", lambda: self.condition(
            self.ctx.segment(c.name)))

    def compile_goal_ref(self, c: A.GoalRef) -> ColumnElement[bool]:
        return self.guarded("goal", lambda: self.condition(self.ctx.goal()))


def cost(c: A.Condition, ctx: Context, seen: frozenset[str] = frozenset()) -> int:
    """0: lead columns only; 1: tiers (a CASE); 2: event lookups; 3: scores (aggregates)."""
    match c:
        case A.And(items=items) | A.Or(items=items):
            return max(cost(i, ctx, seen) for i in items)
        case A.Not(item=item):
            return cost(item, ctx, seen)
        case A.Count() | A.Did() | A.LastEvent():
            return 2
        case A.SegmentRef(name=name):
            segment = ctx.symbols.segments.get(name)
            if segment is None or name in seen:
                return 0
            return cost(segment.condition, ctx, seen | {name})
        case A.GoalRef():
            goals = ctx.flow.settings(A.GoalWhen) if ctx.flow is not None else []
            return cost(goals[0].condition, ctx, seen | {"goal"}) if goals and \
                "goal" not in seen else 0
    kinds = {ctx.symbols.kind_of(n.name) for n in _names(c)}
    return 3 if "score" in kinds else 1 if "tier" in kinds else 0


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
    """A compiled condition: ``where`` over ``leads`` and the joins it needs (PostgreSQL score
    aggregates; none on SQLite). Use ``from_()`` as the FROM clause of any query on leads."""

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
                      dialect: DialectLike) -> Compiled:
    name = dialect_name(dialect)
    compiler = Compiler(ctx, at, name)
    where = compiler.condition(condition)
    return Compiled(where, compiler.joins, name)


def audience(condition: A.Condition, ctx: Context, at: dt.datetime,
             dialect: DialectLike, *columns: ColumnElement[Any]) -> sa.Select[Any]:
    """``SELECT leads.id`` (or ``columns``) of the leads matching ``condition`` at T, ordered by
    id. ``dialect``: "sqlite" / "postgresql", or the engine / connection it will run on."""
    compiled = compile_condition(condition, ctx, at, dialect)
    return (sa.select(*(columns or (leads.c.id,))).select_from(compiled.from_())
            .where(compiled.where).order_by(leads.c.id))


def count_query(condition: A.Condition, ctx: Context, at: dt.datetime,
                dialect: DialectLike) -> sa.Select[Any]:
    """``SELECT count(*)`` of the audience."""
    compiled = compile_condition(condition, ctx, at, dialect)
    return sa.select(sa.func.count()).select_from(compiled.from_()).where(compiled.where)

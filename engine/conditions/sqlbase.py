"""State shared by the parts of the SQL compiler (values, events, scores): the context, T, the
dialect, the shape planner, bound parameters, the joins an events-first aggregate needs, and
whether the node being compiled sits under a ``not``.

Every literal of a condition becomes a *named bound parameter* made by :meth:`Base.param`; the
names say what the value is (``since_3``, ``pattern_5``) so compiled SQL reads well in review,
and no text from a flow ever becomes SQL text (RELIABILITY I11, T-Q1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context
from engine.conditions.plan import Planner, StaticPlanner
from engine.store.schema import events

DIALECTS = ("sqlite", "postgresql")
T = TypeVar("T")


class Base:
    def __init__(self, ctx: Context, at: dt.datetime, dialect: str,
                 planner: Planner | None = None) -> None:
        if dialect not in DIALECTS:
            raise ConditionError(f"conditions compile for {' and '.join(DIALECTS)}, "
                                 f"not {dialect}")
        self.ctx = ctx
        self.at = M.utc(at)
        self.today = M.today(self.at)
        self.dialect = dialect
        self.planner: Planner = planner if planner is not None else StaticPlanner(dialect)
        # Events-first score aggregates: (derived table, ON clause), LEFT JOINed to leads.
        self.joins: list[tuple[FromClause, ColumnElement[bool]]] = []
        self.scores: dict[str, tuple[ColumnElement[Any], float | None]] = {}
        self._count = 0
        self._active: list[str] = []
        # How many `not` enclose the node being compiled. Outside any `not`, a test that is
        # NULL for an unknown value already acts as FALSE (WHERE, AND / OR, CASE WHEN all treat
        # NULL so), so the guards that make it two-valued are needed only under a `not`.
        self.negated = 0
        # The lead-side tests ANDed before the node being compiled (for the planner's estimate
        # of how many leads reach an event test).
        self.reach: list[ColumnElement[bool]] = []

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    def condition(self, c: A.Condition) -> ColumnElement[bool]:
        raise NotImplementedError

    # ------------------------------------------------------------ parameters

    def param(self, role: str, value: Any, type_: sa.types.TypeEngine[Any]) -> ColumnElement[Any]:
        self._count += 1
        return sa.bindparam(f"{role}_{self._count}", value, type_=type_)

    def text(self, value: str, role: str = "text") -> ColumnElement[Any]:
        return self.param(role, value, sa.Text())

    def number(self, value: int | float, role: str = "n") -> ColumnElement[Any]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConditionError(f"{value!r} is not a number")
        return self.param(role, value, sa.Integer() if isinstance(value, int) else sa.Float())

    def date(self, value: dt.date, role: str = "date") -> ColumnElement[Any]:
        return self.param(role, value, sa.Date())

    def instant(self, value: dt.datetime, role: str = "at") -> ColumnElement[Any]:
        return self.param(role, value, events.c.occurred_at.type)

    def name(self, prefix: str) -> str:
        """A fresh SQL identifier (aliases): never derived from a flow's names."""
        self._count += 1
        return f"{prefix}{self._count}"

    # ------------------------------------------------------------ truth

    def two_valued(self, test: ColumnElement[bool],
                   *nullable: ColumnElement[Any]) -> ColumnElement[bool]:
        """``test``, made FALSE rather than NULL for unknown operands when that can matter:
        under a ``not`` (elsewhere NULL already acts as FALSE)."""
        return definite(test, *nullable) if self.negated else test

    def positive(self, fn: Callable[[], T]) -> T:
        """Compile outside any enclosing ``not`` and lead-side context (a score's ``when``
        lines: a CASE WHEN of their own, cached and shared by every use of the score)."""
        negated, reach = self.negated, self.reach
        self.negated, self.reach = 0, []
        try:
            return fn()
        finally:
            self.negated, self.reach = negated, reach

    # ------------------------------------------------------------ recursion

    def guarded(self, key: str, fn: Callable[[], T]) -> T:
        if key in self._active:
            raise ConditionError(f"{key} refers to itself")
        self._active.append(key)
        try:
            return fn()
        finally:
            self._active.pop()


def definite(test: ColumnElement[bool], *nullable: ColumnElement[Any]) -> ColumnElement[bool]:
    """``test`` made two-valued: FALSE (never NULL) when any of the ``nullable`` operands is
    NULL. Plain columns get ``col IS NOT NULL AND test`` (an index on the column still serves);
    computed values get ``coalesce(test, false)``."""
    if not nullable:
        return test
    if all(isinstance(n, sa.Column) for n in nullable):
        return sa.and_(*(n.is_not(None) for n in nullable), test)
    return sa.func.coalesce(test, sa.false(), type_=sa.Boolean())

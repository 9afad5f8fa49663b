"""The SQL compiler's values and attribute tests: operands, comparisons, lists, texts, dates and
tiers (a CASE in entry order). Every test is two-valued: FALSE, never NULL, when a value is
unknown (``sqlbase.definite``), so that ``not`` means what docs/semantics.md says."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError
from engine.conditions.sqlbase import Base, definite
from engine.store import fields

OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "is": operator.eq, "!=": operator.ne, "is not": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NO_CONSTANT = object()


@dataclass(frozen=True)
class SqlValue:
    """An operand in SQL: its language type, the expression, whether it can be NULL, and the
    Python value when it is a constant (so date arithmetic on constants happens in Python)."""

    type: str | None
    expr: ColumnElement[Any]
    nullable: bool
    constant: object = _NO_CONSTANT

    @property
    def is_constant(self) -> bool:
        return self.constant is not _NO_CONSTANT

    def definite(self, test: ColumnElement[bool], *others: SqlValue) -> ColumnElement[bool]:
        return definite(test, *(v.expr for v in (self, *others) if v.nullable))


class Values(Base):
    def score_value(self, name: str) -> ColumnElement[Any]:
        raise NotImplementedError

    # ------------------------------------------------------------ operands

    def value(self, op: A.Operand, peer: str | None = None,
              peers: tuple[A.Operand, ...] = ()) -> SqlValue:
        if peers and peer is None:
            types = {M.static_type(p, self.ctx.symbols) for p in peers} - {None}
            peer = types.pop() if len(types) == 1 else None
        match op:
            case A.Str(value=text):
                if peer == "date":
                    return self.const_date(M.parse_date(text))
                return SqlValue("text", self.text(text), False, text)
            case A.Num(value=number):
                return SqlValue("number", self.number(number), False, number)
            case A.Today():
                return self.const_date(self.today, "today")
            case A.Shift(base=base, sign=sign, duration=duration):
                return self.shift(self.value(base, peer="date"), M.shift_days(sign, duration))
            case A.Name(name=name):
                return self.name_value(name, peer)
        raise ConditionError(f"cannot compile {op!r}")

    def const_date(self, d: dt.date, role: str = "date") -> SqlValue:
        return SqlValue("date", self.date(d, role), False, d)

    def shift(self, base: SqlValue, n: int) -> SqlValue:
        if base.is_constant:
            assert isinstance(base.constant, dt.date)
            return self.const_date(base.constant + dt.timedelta(days=n))
        if self.pg:  # date + integer is a date
            expr = base.expr + sa.cast(self.number(n, "days"), sa.Integer())
        else:  # SQLite dates are 'YYYY-MM-DD' texts; date() moves them
            expr = sa.func.date(base.expr, self.text(f"{n:+d} days", "shift"), type_=sa.Date())
        return SqlValue("date", expr, base.nullable)

    def name_value(self, name: str, peer: str | None) -> SqlValue:
        symbols = self.ctx.symbols
        kind = symbols.kind_of(name)
        if peer == "category" and kind is None:
            return SqlValue("category", self.text(name, "category"), False, name)
        if kind == "attribute":
            f = fields.attribute(name, self.ctx.custom_types)
            nullable = f.column is None or bool(getattr(f.column, "nullable", True))
            return SqlValue(f.type, f.expr, nullable)
        if kind == "tier":
            return SqlValue("category", self.tier(name), True)
        if kind == "score":
            return SqlValue("number", self.score_value(name), False)
        if kind is None and name in M.BOOLEANS:
            value = M.BOOLEANS[name]
            return SqlValue("boolean", self.param("flag", value, sa.Boolean()), False, value)
        raise ConditionError(f"`{name}` is not an attribute, tier or score")

    def pair(self, left: A.Operand, right: A.Operand) -> tuple[SqlValue, SqlValue]:
        lt = M.static_type(left, self.ctx.symbols)
        rt = M.static_type(right, self.ctx.symbols)
        return self.value(left, peer=rt), self.value(right, peer=lt)

    # ------------------------------------------------------------ attribute tests

    def compile_compare(self, c: A.Compare) -> ColumnElement[bool]:
        if c.op not in OPS:
            raise ConditionError(f"unknown comparison `{c.op}`")
        left, right = self.pair(c.left, c.right)
        return left.definite(OPS[c.op](left.expr, right.expr), right)

    def compile_in_list(self, c: A.InList) -> ColumnElement[bool]:
        left = self.value(c.left, peers=c.values)
        values = [self.value(v, peer=left.type) for v in c.values]
        if all(v.is_constant for v in values):
            exprs = [v.expr for v in values]
            test = left.expr.not_in(exprs) if c.negated else left.expr.in_(exprs)
            return left.definite(test)
        if c.negated:  # every `x != v`, each false when v is unknown
            return sa.and_(*(left.definite(left.expr != v.expr, v) for v in values))
        return sa.or_(*(left.definite(left.expr == v.expr, v) for v in values))

    def compile_text_match(self, c: A.TextMatch) -> ColumnElement[bool]:
        v = self.value(c.left)
        return v.definite(self.like(v.expr, c.op, c.pattern.value))

    def compile_known(self, c: A.Known) -> ColumnElement[bool]:
        v = self.value(c.left)
        if not v.nullable:
            return sa.true() if c.known else sa.false()
        return v.expr.is_not(None) if c.known else v.expr.is_(None)

    def compile_date_window(self, c: A.DateWindow) -> ColumnElement[bool]:
        v = self.value(c.left)
        n = dt.timedelta(days=M.whole_days(c.duration))
        t = self.today
        if c.op == "within":
            test = sa.and_(v.expr >= self.date(t, "today"), v.expr <= self.date(t + n, "until"))
        elif c.op in ("in last", "less than ago"):
            test = sa.and_(v.expr >= self.date(t - n, "since"), v.expr <= self.date(t, "today"))
        elif c.op == "more than ago":
            test = v.expr < self.date(t - n, "before")
        else:
            raise ConditionError(f"unknown date test `{c.op}`")
        return v.definite(test)

    # ------------------------------------------------------------ texts and tiers

    def lower(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """ASCII-only lower case on both dialects: PostgreSQL's lower() folds other letters too
        unless the collation is C."""
        return sa.func.lower(sa.collate(expr, "C") if self.pg else expr, type_=sa.Text())

    def like(self, expr: ColumnElement[Any], op: str, text: str) -> ColumnElement[bool]:
        pattern = self.text(M.like_pattern(op, text), "pattern")
        return self.lower(expr).like(pattern, escape=M.ESCAPE)

    def tier(self, name: str) -> ColumnElement[Any]:
        t = self.ctx.symbols.tiers.get(name)
        if t is None:
            raise ConditionError(f"unknown tier `{name}`")
        source = self.guarded(f"tier {name}", lambda: self.name_value(t.source, None))
        whens = [(self.tier_rule(e.rule, source), self.text(e.name, "category"))
                 for e in t.entries]
        return sa.case(*whens, else_=sa.null())

    def tier_rule(self, rule: A.TierRule, src: SqlValue) -> ColumnElement[bool]:
        x = src.expr
        match rule.kind:
            case "between" if rule.low is not None and rule.high is not None:
                return sa.and_(x >= self.number(rule.low, "low"), x <= self.number(rule.high,
                                                                                  "high"))
            case "at least" if rule.low is not None:
                return x >= self.number(rule.low, "low")
            case "below" if rule.high is not None:
                return x < self.number(rule.high, "high")
            case "matches":
                return sa.or_(*(self.like(x, "matches", p) for p in rule.texts))
            case "in":
                return x.in_([self.text(v) for v in rule.texts])
            case "otherwise":
                return x.is_not(None) if src.nullable else sa.true()
        raise ConditionError(f"unknown tier rule `{rule.kind}`")

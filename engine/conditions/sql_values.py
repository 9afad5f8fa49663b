"""The SQL compiler's values and attribute tests: operands, comparisons, lists, texts, dates and
tiers. Every test is two-valued: FALSE, never NULL, when a value is unknown, so that ``not`` means
what docs/semantics.md says; outside a ``not`` NULL already acts as FALSE and the guards that
ensure it (``sqlbase.definite``) are left out (``Base.two_valued``).

Per-row cost matters here: an audience evaluates these expressions for up to every lead.
- A tier's value is a CASE over its entries in order, but a test of its category (``size is
  smb``, ``sector in (...)``) tests the source directly: an entry of the category matches and no
  earlier entry that could also match does (``size is enterprise`` is ``employees >= 500``).
- Case-insensitive globs: ``lower(x) LIKE p`` on PostgreSQL (ASCII-only under the C collation);
  on SQLite plain ``x LIKE p``, whose LIKE already ignores the case of ASCII letters only (the
  pattern is lower-cased), three times faster than calling lower() first.
- A range of dates is ``BETWEEN``, which SQLite evaluates with one reading of the value.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context
from engine.conditions.sqlbase import Base
from engine.store import fields
from engine.store.types import UTCDateTime

OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "is": operator.eq, "!=": operator.ne, "is not": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NO_CONSTANT = object()
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class SqlValue:
    """An operand in SQL: its language type, the expression, whether it can be NULL, and the
    Python value when it is a constant (so date arithmetic on constants happens in Python)."""

    type: str | None
    expr: ColumnElement[Any]
    nullable: bool
    constant: object = _NO_CONSTANT
    # A date that is the UTC date of a stored instant (``created_at``), shifted by ``offset``
    # days: compared with a constant date it becomes a range of the column itself.
    instant: ColumnElement[Any] | None = None
    offset: int = 0

    @property
    def is_constant(self) -> bool:
        return self.constant is not _NO_CONSTANT

    def nullables(self, *others: SqlValue) -> list[ColumnElement[Any]]:
        """The expressions of this value and ``others`` that can be NULL."""
        return [v.expr for v in (self, *others) if v.nullable]


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
        return SqlValue("date", expr, base.nullable, instant=base.instant,
                        offset=base.offset + n)

    def name_value(self, name: str, peer: str | None) -> SqlValue:
        symbols = self.ctx.symbols
        kind = symbols.kind_of(name)
        if peer == "category" and kind is None:
            return SqlValue("category", self.text(name, "category"), False, name)
        if kind == "attribute":
            f = fields.attribute(name, self.ctx.custom_types)
            nullable = f.column is None or bool(getattr(f.column, "nullable", True))
            instant = f.column if f.type == "date" and f.column is not None and isinstance(
                f.column.type, UTCDateTime) else None
            return SqlValue(f.type, f.expr, nullable, instant=instant)
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
        membership = condition_categories(c, self.ctx)
        if membership is not None:
            return self.tier_in(*membership)
        left, right = self.pair(c.left, c.right)
        op = c.op
        if right.instant is not None and left.is_constant:
            left, right, op = right, left, FLIP.get(op, op)
        if left.instant is not None and isinstance(right.constant, dt.date):
            test = self.instant_test(left, op, right.constant)
            if test is not None:
                return self.two_valued(test, *left.nullables())
        return self.two_valued(OPS[op](left.expr, right.expr), *left.nullables(right))

    def compile_in_list(self, c: A.InList) -> ColumnElement[bool]:
        membership = condition_categories(c, self.ctx)
        if membership is not None:
            return self.tier_in(*membership)
        left = self.value(c.left, peers=c.values)
        values = [self.value(v, peer=left.type) for v in c.values]
        if all(v.is_constant for v in values):
            exprs = [v.expr for v in values]
            test = left.expr.not_in(exprs) if c.negated else left.expr.in_(exprs)
            return self.two_valued(test, *left.nullables())
        if c.negated:  # every `x != v`, each false when v is unknown
            return sa.and_(*(self.two_valued(left.expr != v.expr, *left.nullables(v))
                             for v in values))
        return sa.or_(*(self.two_valued(left.expr == v.expr, *left.nullables(v))
                        for v in values))

    def compile_text_match(self, c: A.TextMatch) -> ColumnElement[bool]:
        v = self.value(c.left)
        return self.two_valued(self.like(v.expr, c.op, c.pattern.value), *v.nullables())

    def compile_known(self, c: A.Known) -> ColumnElement[bool]:
        v = self.value(c.left)
        if not v.nullable:
            return sa.true() if c.known else sa.false()
        return v.expr.is_not(None) if c.known else v.expr.is_(None)

    def compile_date_window(self, c: A.DateWindow) -> ColumnElement[bool]:
        v = self.value(c.left)
        n = dt.timedelta(days=M.whole_days(c.duration))
        t = self.today
        if v.instant is not None:
            window = self.instant_window(v, c.op, t, n)
            if window is not None:
                return self.two_valued(window, *v.nullables())
        test: ColumnElement[bool]
        if c.op == "within":
            test = v.expr.between(self.date(t, "today"), self.date(t + n, "until"))
        elif c.op in ("in last", "less than ago"):
            test = v.expr.between(self.date(t - n, "since"), self.date(t, "today"))
        elif c.op == "more than ago":
            test = v.expr < self.date(t - n, "before")
        else:
            raise ConditionError(f"unknown date test `{c.op}`")
        return self.two_valued(test, *v.nullables())

    def instant_window(self, v: SqlValue, op: str, t: dt.date,
                       n: dt.timedelta) -> ColumnElement[bool] | None:
        """A date window (``created_at in last 14 days``) on an instant column's date."""
        if op == "within":
            parts = [(">=", t), ("<=", t + n)]
        elif op in ("in last", "less than ago"):
            parts = [(">=", t - n), ("<=", t)]
        elif op == "more than ago":
            parts = [("<", t - n)]
        else:
            return None
        tests = [self.instant_test(v, o, d) for o, d in parts]
        if any(test is None for test in tests):
            return None
        return sa.and_(*(test for test in tests if test is not None))

    def instant_test(self, v: SqlValue, op: str, d: dt.date) -> ColumnElement[bool] | None:
        """``v <op> d`` where v is the UTC date of an instant column (plus ``v.offset`` days),
        as a test of the column against UTC midnights: no date() per row, and an index on the
        column serves. None when the shifted date leaves the calendar (the date test serves)."""
        assert v.instant is not None
        try:
            day = d - dt.timedelta(days=v.offset)
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            end = start + dt.timedelta(days=1)
        except OverflowError:
            return None
        col = v.instant
        match op:
            case "<":
                return col < self.instant(start, "before")  # type: ignore[no-any-return]
            case "<=":
                return col < self.instant(end, "before")  # type: ignore[no-any-return]
            case ">":
                return col >= self.instant(end, "from")  # type: ignore[no-any-return]
            case ">=":
                return col >= self.instant(start, "from")  # type: ignore[no-any-return]
            case "=" | "is":
                return sa.and_(col >= self.instant(start, "from"),
                               col < self.instant(end, "before"))
            case "!=" | "is not":
                return sa.or_(col < self.instant(start, "before"),
                              col >= self.instant(end, "from"))
        return None

    # ------------------------------------------------------------ texts and tiers

    def like(self, expr: ColumnElement[Any], op: str, text: str) -> ColumnElement[bool]:
        """The case-insensitive (ASCII letters only) glob test of docs/semantics.md. The
        pattern is lower-cased; PostgreSQL lower-cases the value under the C collation (its
        lower() would fold other letters too), SQLite's LIKE folds ASCII letters by itself."""
        pattern = self.text(M.like_pattern(op, text), "pattern")
        if self.pg:
            expr = sa.func.lower(sa.collate(expr, "C"), type_=sa.Text())
        return expr.like(pattern, escape=M.ESCAPE)

    def tier_def(self, name: str) -> A.Tier:
        t = self.ctx.symbols.tiers.get(name)
        if t is None:
            raise ConditionError(f"unknown tier `{name}`")
        return t

    def tier_source(self, t: A.Tier) -> SqlValue:
        return self.guarded(f"tier {t.name}", lambda: self.name_value(t.source, None))

    def tier(self, name: str) -> ColumnElement[Any]:
        t = self.tier_def(name)
        source = self.tier_source(t)
        whens = [(self.tier_rule(e.rule, source), self.text(e.name, "category"))
                 for e in t.entries]
        return sa.case(*whens, else_=sa.null())

    def tier_in(self, t: A.Tier, wanted: set[str],
                ruled_out: frozenset[str] = frozenset()) -> ColumnElement[bool]:
        """The first entry whose rule matches is one of ``wanted``: for each wanted entry, its
        rule matches and none of the earlier unwanted entries' rules that can hold together
        with it does (an earlier *wanted* entry matching also gives a wanted category).
        Entries with the same such blockers are tested together. ``ruled_out``: categories
        already known not to be the tier's (an earlier WHEN of the same CASE), which need no
        test again."""
        source = self.tier_source(t)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, entry in enumerate(t.entries):
            if entry.name in wanted:
                blockers = tuple(j for j in range(i)
                                 if t.entries[j].name not in wanted | ruled_out
                                 and may_overlap(t.entries[j].rule, entry.rule))
                groups.setdefault(blockers, []).append(i)
        tests = []
        for blockers, members in groups.items():
            hit = sa.or_(*(self.tier_rule(t.entries[i].rule, source) for i in members))
            if blockers:
                hit = sa.and_(hit, sa.not_(sa.or_(*(self.tier_rule(t.entries[j].rule, source)
                                                    for j in blockers))))
            tests.append(hit)
        if not tests:
            return sa.false()
        # With the source known every rule is TRUE or FALSE; unknown, the test is NULL or FALSE.
        return self.two_valued(sa.or_(*tests), *source.nullables())

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


def tier_categories(left: A.Operand, values: Sequence[A.Operand], negated: bool,
                    equality: bool, ctx: Context) -> tuple[A.Tier, set[str]] | None:
    """For a test of a tier against bare category names (``size is smb``, ``sector not in
    (bank, other)``): the tier and the categories that make it true; None for other forms."""
    symbols = ctx.symbols
    if not (equality and isinstance(left, A.Name) and symbols.kind_of(left.name) == "tier"):
        return None
    if not all(isinstance(v, A.Name) and symbols.kind_of(v.name) is None for v in values):
        return None
    t = symbols.tiers.get(left.name)
    if t is None:
        raise ConditionError(f"unknown tier `{left.name}`")
    wanted = {v.name for v in values if isinstance(v, A.Name)}
    if negated:  # known, and another category: `is not` is false for an unknown tier
        wanted = {e.name for e in t.entries} - wanted
    return t, wanted


def condition_categories(c: A.Condition, ctx: Context) -> tuple[A.Tier, set[str]] | None:
    """:func:`tier_categories` of a comparison or list condition."""
    if isinstance(c, A.Compare):
        return tier_categories(c.left, [c.right], c.op in ("is not", "!="),
                               c.op in ("is", "is not", "=", "!="), ctx)
    if isinstance(c, A.InList):
        return tier_categories(c.left, list(c.values), c.negated, True, ctx)
    return None


def interval(rule: A.TierRule) -> tuple[float, bool, float, bool] | None:
    """A numeric rule as (low, low included, high, high included); None for other rules."""
    inf = float("inf")
    match rule.kind:
        case "between" if rule.low is not None and rule.high is not None:
            return (rule.low, True, rule.high, True)
        case "at least" if rule.low is not None:
            return (rule.low, True, inf, False)
        case "below" if rule.high is not None:
            return (-inf, False, rule.high, False)
    return None


def may_overlap(a: A.TierRule, b: A.TierRule) -> bool:
    """Whether some value can match both rules. Proven false only for disjoint numeric ranges
    and for ``in`` lists without a common text; anything else may overlap."""
    ia, ib = interval(a), interval(b)
    if ia is not None and ib is not None:
        return not (_before(ia, ib) or _before(ib, ia))
    if a.kind == "in" and b.kind == "in":
        return bool(set(a.texts) & set(b.texts))
    return True


def _before(a: tuple[float, bool, float, bool], b: tuple[float, bool, float, bool]) -> bool:
    """Every value of range ``a`` is below every value of range ``b``."""
    return a[2] < b[0] or (a[2] == b[0] and not (a[3] and b[1]))

"""The SQL compiler's behaviour tests: event matches, counts in windows, the short verbs and
recency, as subqueries over ``events`` correlated to the lead.

Shapes (measured in /work/shared/PERFORMANCE.md):

- existence (``at least 1``, the verbs, ``last ... less than D ago``): ``EXISTS``; absence
  (``no``, dormancy): ``NOT EXISTS``, never ``NOT IN``. Both dialects turn these into semi / anti
  joins that walk the ``(lead_id, type, occurred_at)`` index.
- ``at least N`` (N > 1): on SQLite a correlated ``count(*)`` per lead (SQLite wants the
  selective lead filter first, then index lookups); on PostgreSQL ``id IN (SELECT lead_id ...
  GROUP BY lead_id HAVING count(*) >= N)``, an events-first aggregate it hashes once.
- ``at most N`` (N > 0): a correlated ``count(*) <= N`` on both (an anti-join shape would need
  ``NOT IN`` over a large set).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from dsl import schema
from engine.conditions import model as M
from engine.conditions.model import ConditionError
from engine.conditions.sql_values import Values
from engine.store import fields
from engine.store.schema import events, leads

Alias = Any  # an alias of the events table


class Events(Values):
    def events_alias(self) -> Alias:
        return events.alias(self.name("e"))

    # ------------------------------------------------------------ which events

    def types_test(self, e: Alias, types: tuple[str, ...]) -> ColumnElement[bool]:
        if len(types) == 1:
            return e.c.type == self.text(types[0], "type")  # type: ignore[no-any-return]
        return e.c.type.in_([self.text(t, "type") for t in types])  # type: ignore[no-any-return]

    def window_tests(self, e: Alias, window: A.Duration | None) -> list[ColumnElement[bool]]:
        """Only events at or before T exist; with a window, only those after T - window."""
        out = [e.c.occurred_at <= self.instant(self.at)]
        if window is not None:
            out.append(e.c.occurred_at > self.instant(self.at - M.span(window), "since"))
        return out

    def match_tests(self, e: Alias, em: A.EventMatch) -> list[ColumnElement[bool]]:
        types = M.event_types(em, self.ctx.symbols)
        out = [self.types_test(e, types)]
        for f in em.filters:
            out.extend(self.filter_tests(e, f, types))
        return out

    def on_column(self, e: Alias, types: tuple[str, ...]) -> ColumnElement[Any]:
        """The column ``on "PATTERN"`` tests (model.on_properties), by type when mixed."""
        def column(t: str) -> ColumnElement[Any]:
            props = M.on_properties(t)
            cols = [fields.event_property(p, e).expr for p in props]
            return cols[0] if len(cols) == 1 else sa.func.coalesce(*cols, type_=sa.Text())

        distinct = {M.on_properties(t) for t in types}
        if len(distinct) == 1:
            return column(types[0])
        whens = [(e.c.type == self.text(t, "type"), column(t))
                 for t in ("page_view", "email_click") if t in types]
        return sa.case(*whens, else_=column("activity"))

    def filter_tests(self, e: Alias, f: A.EventFilter,
                     types: tuple[str, ...]) -> list[ColumnElement[bool]]:
        if f.kind == "on" and f.value is not None:
            return [self.like(self.on_column(e, types), "matches", f.value.value)]
        if f.kind in ("to", "from") and f.value is not None:
            return [fields.event_property(f.kind, e).expr == self.text(f.value.value)]
        if f.kind == "where":
            return [self.prop_test(e, t) for t in f.tests]
        raise ConditionError(f"unknown event filter `{f.kind}`")

    def prop_test(self, e: Alias, t: A.PropTest) -> ColumnElement[bool]:
        column = fields.event_property(t.prop, e).expr  # UnknownField outside the allowlist
        if not isinstance(t.value, A.Str):
            raise ConditionError(f"event property `{t.prop}` is compared with a text only")
        if t.op == "matches":
            return self.like(column, "matches", t.value.value)
        if t.op in ("=", "!="):  # NULL drops the row: an unknown property fails the test
            value = self.text(t.value.value)
            return column == value if t.op == "=" else column != value  # type: ignore[no-any-return]
        raise ConditionError(f"event property `{t.prop}` cannot be compared with `{t.op}`")

    def did_tests(self, e: Alias, c: A.Did) -> list[ColumnElement[bool]]:
        types, prop = schema.VERBS[c.verb]
        out = [self.types_test(e, types)]
        match c.target:
            case None:
                pass
            case A.Name(name=step):
                if self.ctx.flow is None:
                    raise ConditionError(f"`{c.verb} {step}` refers to a step of a flow, "
                                         "outside any flow")
                out.append(e.c.flow == self.text(self.ctx.flow.name, "flow"))
                out.append(e.c.step == self.text(step, "step"))
            case A.Str(value=pattern):
                if prop is None:
                    raise ConditionError(f"`{c.verb}` takes no pattern")
                out.append(self.like(fields.event_property(prop, e).expr, "matches", pattern))
        return out

    # ------------------------------------------------------------ shapes

    def exists(self, e: Alias, tests: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        return sa.exists().where(e.c.lead_id == leads.c.id, *tests)

    def count(self, e: Alias, tests: list[ColumnElement[bool]]) -> ColumnElement[Any]:
        return (sa.select(sa.func.count()).select_from(e)
                .where(e.c.lead_id == leads.c.id, *tests).scalar_subquery())

    def at_least(self, e: Alias, tests: list[ColumnElement[bool]], n: int) -> ColumnElement[bool]:
        if n <= 0:
            return sa.true()
        if n == 1:
            return self.exists(e, tests)
        if self.pg:
            grouped = (sa.select(e.c.lead_id).where(*tests).group_by(e.c.lead_id)
                       .having(sa.func.count() >= self.number(n)))
            return leads.c.id.in_(grouped)
        return self.count(e, tests) >= self.number(n)  # type: ignore[no-any-return]

    def compile_count(self, c: A.Count) -> ColumnElement[bool]:
        e = self.events_alias()
        tests = [*self.window_tests(e, c.window), *self.match_tests(e, c.event)]
        if c.op == "at least":
            return self.at_least(e, tests, c.n)
        if c.op == "no" or (c.op == "at most" and c.n <= 0):
            return ~self.exists(e, tests)
        if c.op == "at most":
            return self.count(e, tests) <= self.number(c.n)  # type: ignore[no-any-return]
        raise ConditionError(f"unknown count `{c.op}`")

    def compile_did(self, c: A.Did) -> ColumnElement[bool]:
        e = self.events_alias()
        return self.exists(e, [*self.window_tests(e, c.window), *self.did_tests(e, c)])

    def compile_last_event(self, c: A.LastEvent) -> ColumnElement[bool]:
        """``more``: a match exists and none is at or after T - D; ``less``: one is."""
        cutoff = self.at - M.span(c.duration)
        e = self.events_alias()
        recent = [*self.window_tests(e, None), *self.match_tests(e, c.event),
                  e.c.occurred_at >= self.instant(cutoff, "cutoff")]
        if not c.more:
            return self.exists(e, recent)
        old = self.events_alias()
        return sa.and_(self.exists(old, [*self.window_tests(old, None),
                                         *self.match_tests(old, c.event)]),
                       ~self.exists(e, recent))

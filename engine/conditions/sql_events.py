"""The SQL compiler's behaviour tests: event matches, counts in windows, the short verbs and
recency, over ``events`` in one of two shapes the planner (engine.conditions.plan) chooses per
test: *per lead*, correlated to the lead on the ``(lead_id, type, occurred_at)`` index, or
*events first*, the window's matching events read once on ``(type, occurred_at)``.

- existence (``at least 1``, the verbs, ``last ... less than D ago``): per lead ``EXISTS``;
  events first ``leads.id IN (SELECT lead_id ...)``, the shape for rare or recent events (a
  day's stage changes: SQLite probes a million leads otherwise).
- absence (``no``, dormancy): ``NOT EXISTS``, never ``NOT IN`` (PERFORMANCE.md). Both dialects
  turn ``EXISTS`` / ``NOT EXISTS`` into semi / anti joins on the index.
- ``at least N`` (N > 1): per lead a correlated ``count(*) >= N``; events first ``leads.id IN
  (SELECT lead_id ... GROUP BY lead_id HAVING count(*) >= N)``. Several such counts of the same
  event kinds and window under one ``or`` share one pass over those events, one ``count(*)
  FILTER (WHERE ...)`` each.
- ``at most N`` (N > 0): a correlated ``count(*) <= N`` (an anti-join shape would need ``NOT
  IN`` over a large set).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from dsl import schema
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Context
from engine.conditions.plan import Kind, Probe
from engine.conditions.sql_values import Values
from engine.store import fields
from engine.store.schema import enrollments, events, leads

Alias = Any  # an alias of the events table


class Events(Values):
    def events_alias(self) -> Alias:
        return events.alias(self.name("e"))

    # ------------------------------------------------------------ which events

    def types_test(self, e: Alias, types: tuple[str, ...]) -> ColumnElement[bool]:
        if len(types) == 1:
            return e.c.type == self.text(types[0], "type")  # type: ignore[no-any-return]
        return e.c.type.in_([self.text(t, "type") for t in types])  # type: ignore[no-any-return]

    def person_tests(self, e: Alias, types: tuple[str, ...]) -> list[ColumnElement[bool]]:
        """Clicks and opens the tracking server judged automated (``machine`` TRUE; a person's
        are NULL) are skipped; the test is added only where such events can be among the
        kinds, since it needs each event's row beyond the index (model.MACHINE_TYPES)."""
        if not flaggable(types):
            return []
        others = [t for t in types if t not in M.MACHINE_TYPES]  # never flagged
        person: ColumnElement[bool] = e.c.machine.is_not(sa.true())
        if not others:
            return [person]
        return [sa.or_(self.types_test(e, tuple(others)), person)]

    def window_tests(self, e: Alias, window: A.Duration | None) -> list[ColumnElement[bool]]:
        """Only events at or before T exist; with a window, only those after T - window."""
        out = [e.c.occurred_at <= self.instant(self.at)]
        if window is not None:
            out.append(e.c.occurred_at > self.instant(self.at - M.span(window), "since"))
        return out

    def match_tests(self, e: Alias, em: A.EventMatch) -> list[ColumnElement[bool]]:
        types = M.event_types(em, self.ctx.symbols)
        out = [self.types_test(e, types), *self.person_tests(e, types)]
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
        out = [self.types_test(e, types), *self.person_tests(e, types)]
        match c.target:
            case None:
                pass
            case A.Name(name=step):
                if self.ctx.flow is None:
                    raise ConditionError(f"`{c.verb} {step}` refers to a step of a flow, "
                                         "outside any flow")
                flow = self.ctx.flow.name
                out.append(e.c.flow == self.text(flow, "flow"))
                out.append(e.c.step == self.text(step, "step"))
                # Only from the lead's latest entry into the flow (engine.conditions.values.
                # did_matches): NULL, never entered, matches nothing.
                en = enrollments.alias(self.name("en"))
                out.append(e.c.occurred_at >= (
                    sa.select(sa.func.max(en.c.entered_at))
                    .where(en.c.flow == self.text(flow, "flow"), en.c.lead_id == e.c.lead_id)
                    .scalar_subquery()))
            case A.Str(value=pattern):
                if prop is None:
                    raise ConditionError(f"`{c.verb}` takes no pattern")
                out.append(self.like(fields.event_property(prop, e).expr, "matches", pattern))
        return out

    # ------------------------------------------------------------ shapes

    def since(self, window: A.Duration | None) -> dt.datetime | None:
        return None if window is None else self.at - M.span(window)

    def events_first(self, kind: Kind, types: tuple[str, ...], window: A.Duration | None,
                     rows: bool) -> bool:
        """The planner's choice for a test of these events (``rows``: it reads columns beyond
        type and time), knowing the lead tests before it."""
        return self.planner.events_first(Probe(kind, types, self.since(window), self.at,
                                               tuple(self.reach), rows))

    def exists(self, e: Alias, tests: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        return sa.exists().where(e.c.lead_id == leads.c.id, *tests)

    def found(self, e: Alias, tests: list[ColumnElement[bool]], types: tuple[str, ...],
              window: A.Duration | None, rows: bool) -> ColumnElement[bool]:
        """A matching event exists: ``EXISTS`` per lead, or a semi-join events first."""
        if self.events_first("exists", types, window, rows):
            return leads.c.id.in_(sa.select(e.c.lead_id).where(*tests))
        return self.exists(e, tests)

    def count(self, e: Alias, tests: list[ColumnElement[bool]]) -> ColumnElement[Any]:
        return (sa.select(sa.func.count()).select_from(e)
                .where(e.c.lead_id == leads.c.id, *tests).scalar_subquery())

    def at_least(self, e: Alias, tests: list[ColumnElement[bool]], n: int,
                 types: tuple[str, ...], window: A.Duration | None,
                 rows: bool) -> ColumnElement[bool]:
        if n <= 0:
            return sa.true()
        if n == 1:
            return self.found(e, tests, types, window, rows)
        if self.events_first("count", types, window, rows):
            grouped = (sa.select(e.c.lead_id).where(*tests).group_by(e.c.lead_id)
                       .having(sa.func.count() >= self.number(n)))
            return leads.c.id.in_(grouped)
        return self.count(e, tests) >= self.number(n)  # type: ignore[no-any-return]

    def compile_count(self, c: A.Count) -> ColumnElement[bool]:
        e = self.events_alias()
        types = M.event_types(c.event, self.ctx.symbols)
        tests = [*self.window_tests(e, c.window), *self.match_tests(e, c.event)]
        if c.op == "at least":
            return self.at_least(e, tests, c.n, types, c.window,
                                 bool(c.event.filters) or flaggable(types))
        if c.op == "no" or (c.op == "at most" and c.n <= 0):
            return ~self.exists(e, tests)
        if c.op == "at most":
            return self.count(e, tests) <= self.number(c.n)  # type: ignore[no-any-return]
        raise ConditionError(f"unknown count `{c.op}`")

    def compile_did(self, c: A.Did) -> ColumnElement[bool]:
        e = self.events_alias()
        types = schema.VERBS[c.verb][0]
        return self.found(e, [*self.window_tests(e, c.window), *self.did_tests(e, c)],
                          types, c.window, c.target is not None or flaggable(types))

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

    # ------------------------------------------------------------ counts read together

    def compile_counts_together(self, items: list[A.Condition]) -> list[ColumnElement[bool]]:
        """The items of an ``or``, compiled in order, except that ``at least N`` counts (N > 1,
        directly or through segments) of the same event kinds in the same window become one
        test that reads those events once (``reads_invoice or reads_expense or ...``)."""
        keys = [shared_count_key(i, self.ctx) for i in items]
        groups: dict[CountKey, list[A.Count]] = {}
        for item, key in zip(items, keys, strict=True):
            count = as_count(item, self.ctx)
            if key is not None and count is not None:
                groups.setdefault(key, []).append(count)
        out: list[ColumnElement[bool]] = []
        done: set[CountKey] = set()
        for item, key in zip(items, keys, strict=True):
            if key is None or len(groups[key]) < 2:
                out.append(self.condition(item))
            elif key not in done:
                done.add(key)
                out.append(self.any_count(groups[key]))
        return out

    def any_count(self, counts: list[A.Count]) -> ColumnElement[bool]:
        """Any of ``counts`` (all ``at least N``, N > 1, same kinds and window) holds: one
        pass over the events, a ``count(*) FILTER (WHERE <filters>)`` per count."""
        e = self.events_alias()
        types = M.event_types(counts[0].event, self.ctx.symbols)
        window = counts[0].window
        base = [*self.window_tests(e, window), self.types_test(e, types),
                *self.person_tests(e, types)]
        filters = []
        for c in counts:
            tests = [t for f in c.event.filters for t in self.filter_tests(e, f, types)]
            filters.append(sa.and_(*tests) if tests else None)
        enough = [(sa.func.count() if f is None else sa.func.count().filter(f))
                  >= self.number(c.n) for c, f in zip(counts, filters, strict=True)]
        if all(f is not None for f in filters):  # only rows some count counts
            base.append(sa.or_(*(f for f in filters if f is not None)))
        if self.events_first("count", types, window,
                             any(f is not None for f in filters) or flaggable(types)):
            grouped = (sa.select(e.c.lead_id).where(*base).group_by(e.c.lead_id)
                       .having(sa.or_(*enough)))
            return leads.c.id.in_(grouped)
        return (sa.select(sa.or_(*enough)).select_from(e)  # type: ignore[no-any-return]
                .where(e.c.lead_id == leads.c.id, *base).scalar_subquery())


CountKey = tuple[tuple[str, ...], float | None]


def flaggable(types: tuple[str, ...]) -> bool:
    """Whether events of these kinds may be flagged automated (Events.person_tests)."""
    return any(t in M.MACHINE_TYPES for t in types)


def as_count(c: A.Condition, ctx: Context) -> A.Count | None:
    """The count a condition is, through segment references (None for anything else, a
    missing segment or a cycle: compiling the item itself then reports it)."""
    seen: set[str] = set()
    while isinstance(c, A.SegmentRef):
        segment = ctx.symbols.segments.get(c.name)
        if segment is None or c.name in seen:
            return None
        seen.add(c.name)
        c = segment.condition
    return c if isinstance(c, A.Count) else None


def shared_count_key(c: A.Condition, ctx: Context) -> CountKey | None:
    """For an ``at least N`` count (N > 1) that can share a pass over the events with others
    under an ``or``: its event types and window (seconds); None for anything else."""
    count = as_count(c, ctx)
    if count is None or count.op != "at least" or count.n <= 1:
        return None
    try:
        types = M.event_types(count.event, ctx.symbols)
    except ConditionError:
        return None
    return (types, None if count.window is None else M.span(count.window).total_seconds())

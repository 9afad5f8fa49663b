"""Which SQL shape an event test of a condition takes: *per lead* (a lookup correlated to the
lead, on the index ``events(lead_id, type, occurred_at)``) or *events first* (the matching events
of the window read once, on ``events(type, occurred_at)``: a semi-join ``leads.id IN (SELECT
lead_id ...)`` or an aggregate joined to the leads).

Both shapes mean the same (tests/engine/test_sql_vs_reference.py runs every condition in both);
which is faster depends on the data, by 5-25x (docs/benchmarks.md, "Audiences"): per lead costs
about one index probe for every lead that reaches the test, events first costs about one row for
every event of the kinds and window tested. So the choice weighs the two numbers:

- :class:`StaticPlanner` (no database at hand: golden files, the runtime's tick): SQLite per
  lead; PostgreSQL events first for counts and scores, where its hashed aggregates usually win.
- :class:`MeasuredPlanner` (``audience(..., conn)``) asks the database, in a few milliseconds.
  Leads reaching the test: the tests ANDed before it (lead-side ones, and on SQLite the
  per-lead forms of earlier event tests), run on a sample of the leads (runs of consecutive ids
  spread over the table; planner estimates would not do: a tier, a custom attribute or a fit
  score is an opaque expression to them). Events: SQLite counts them on
  ``(type, occurred_at)``, stopping as soon as per lead has won; PostgreSQL gives its planner's
  estimate (``EXPLAIN``, nothing scanned).
- :class:`FixedPlanner`: one shape everywhere (the equivalence tests).

The same sample measures, on SQLite, the share of leads passing each event test of an ``and``,
which orders them (SQLite evaluates a WHERE in the order written; PostgreSQL orders by its own
costs).

Existence tests (``at least 1``, the short verbs) stay ``EXISTS`` on PostgreSQL, whose planner
turns them into semi-joins and chooses the join by its own statistics; absence (``no``) stays
``NOT EXISTS`` everywhere (PERFORMANCE.md: never ``NOT IN`` over a large set).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from engine.store.schema import events, leads

Kind = Literal["exists", "count", "score"]

# Costs in microseconds, measured at 1M leads / 19M events with the data cached (docs/
# benchmarks.md, "Audiences"). Per lead: a correlated probe of the (lead_id, type, occurred_at)
# index (SQLite: one per event type tested, an IN list being a seek per value), and each of the
# lead's events that the probe reads from the table as well, when the test looks at more than
# type and time (an URL, a name, a form). Events first: one event read (the table row too, as
# lead_id is not in the (type, occurred_at) index), a score's row costing more (its points and
# decay are computed for every event, not only for the leads that reach it).
LEAD_PROBE_US = {"sqlite": 1.4, "postgresql": 3.0}
LEAD_ROW_US = {"sqlite": 1.0, "postgresql": 0.7}
EVENT_ROW_US = {"sqlite": 3.0, "postgresql": 0.4}
SCORE_ROW_US = {"sqlite": 4.0, "postgresql": 0.9}
# The sample of leads that measures how many pass the tests before an event test: 2,000 leads,
# enough for a share to within about 1% (binomial), read in a few milliseconds.
SAMPLE_RANGES, SAMPLE_RUN = 20, 100


@dataclass(frozen=True)
class Probe:
    """An event test to shape: its kind, the event types and window it reads (``since`` None:
    all time up to ``at``), the tests ANDed before it, and whether it reads event columns
    beyond the index ``(lead_id, type, occurred_at)`` (an URL, a name: ``rows``)."""

    kind: Kind
    types: tuple[str, ...]
    since: dt.datetime | None
    at: dt.datetime
    reach: Sequence[ColumnElement[bool]] = field(default=(), compare=False)
    rows: bool = False


class Planner(Protocol):
    def events_first(self, probe: Probe) -> bool:
        """True: read the matching events first; False: look them up per lead."""
        ...

    def pass_rates(self, reach: Sequence[ColumnElement[bool]],
                   tests: Callable[[], Sequence[ColumnElement[bool]]]) -> list[float] | None:
        """The share of the leads passing ``reach`` that pass each of ``tests()`` (made only
        when measured), where the order of the tests matters and can be measured; None
        otherwise."""
        ...


@dataclass(frozen=True)
class StaticPlanner:
    dialect: str

    def events_first(self, probe: Probe) -> bool:
        return self.dialect == "postgresql" and probe.kind != "exists"

    def pass_rates(self, reach: Sequence[ColumnElement[bool]],
                   tests: Callable[[], Sequence[ColumnElement[bool]]]) -> list[float] | None:
        return None


@dataclass(frozen=True)
class FixedPlanner:
    first: bool

    def events_first(self, probe: Probe) -> bool:
        return self.first

    def pass_rates(self, reach: Sequence[ColumnElement[bool]],
                   tests: Callable[[], Sequence[ColumnElement[bool]]]) -> list[float] | None:
        return None


def choose(dialect: str, probe: Probe, reached: float, read: float, total: float) -> bool:
    """The cost rule, pure: events first when reading the ``read`` events costs less than
    probing each of the ``reached`` leads (``total``: all leads)."""
    if dialect == "postgresql" and probe.kind == "exists":
        return False
    return read * event_cost(dialect, probe) < reached * lead_cost(dialect, probe, read, total)


def event_cost(dialect: str, probe: Probe) -> float:
    return (SCORE_ROW_US if probe.kind == "score" else EVENT_ROW_US)[dialect]


def lead_cost(dialect: str, probe: Probe, read: float, total: float) -> float:
    seeks = len(probe.types) if dialect == "sqlite" else 1
    share = read / total if probe.rows and total > 0 else 0.0
    return seeks * LEAD_PROBE_US[dialect] + share * LEAD_ROW_US[dialect]


def break_even(dialect: str, probe: Probe, reached: float, total: float) -> float | None:
    """The number of events at which both shapes cost the same (``choose`` flips there), or
    None when events first wins however many they are (every lead reached, every event row
    read either way)."""
    rows = LEAD_ROW_US[dialect] * reached / total if probe.rows and total > 0 else 0.0
    rest = event_cost(dialect, probe) - rows
    probes = lead_cost(dialect, probe, 0.0, total) * reached
    return probes / rest if rest > 0 else None


class MeasuredPlanner:
    """Shapes chosen from the data of one database (see the module docstring). A failed
    measurement falls back to :class:`StaticPlanner`'s choice: planning never fails a query."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.static = StaticPlanner(self.dialect)
        self._ids: tuple[int, int] | None = None
        self._reached: dict[tuple[int, ...], tuple[tuple[ColumnElement[bool], ...], float]] = {}
        # (types, since, at) -> (events counted, the cap the count stopped at or None)
        self._events: dict[tuple[tuple[str, ...], dt.datetime | None, dt.datetime],
                           tuple[float, float | None]] = {}

    def events_first(self, probe: Probe) -> bool:
        if self.dialect == "postgresql" and probe.kind == "exists":
            return False
        try:
            with self.apart():
                reached, read, total = self.measure(probe)
        except (sa.exc.SQLAlchemyError, LookupError, ValueError, TypeError):
            return self.static.events_first(probe)
        return choose(self.dialect, probe, reached, read, total)

    @contextmanager
    def apart(self) -> Iterator[None]:
        """Measure without touching the caller's transaction: none open, in one of our own,
        rolled back after; one open on PostgreSQL, in a savepoint (an error there would abort
        it); one open on SQLite, plainly (reads, and an error leaves it as it was)."""
        if not self.conn.in_transaction():
            own = self.conn.begin()
            try:
                yield
            finally:
                own.rollback()
        elif self.dialect == "postgresql":
            with self.conn.begin_nested():
                yield
        else:
            yield

    def pass_rates(self, reach: Sequence[ColumnElement[bool]],
                   tests: Callable[[], Sequence[ColumnElement[bool]]]) -> list[float] | None:
        """On SQLite, which evaluates the terms of a WHERE in the order written: the share of
        the sampled leads passing ``reach`` that pass each test (one pass over the sample;
        the tests should be per-lead forms, cheap on a few leads). PostgreSQL orders the
        terms by its own cost estimates: None."""
        if self.dialect != "sqlite":
            return None
        base = sa.and_(*reach) if reach else sa.true()
        counts = [sa.func.count().filter(base), *(sa.func.count().filter(sa.and_(base, t))
                                                  for t in tests())]
        try:
            with self.apart():
                row = self.conn.execute(sa.select(*counts).select_from(leads)
                                        .where(self.sample())).one()
        except (sa.exc.SQLAlchemyError, LookupError, ValueError, TypeError):
            return None
        reached = row[0]
        return [float(n) / reached if reached else 0.0 for n in row[1:]]

    def sample(self) -> ColumnElement[bool]:
        """Leads of the sample: SAMPLE_RANGES runs of SAMPLE_RUN consecutive ids spread evenly
        over the ids (primary-key ranges on both dialects; a small store is read whole)."""
        low, high = self.ids()
        span = high - low + 1
        if span <= SAMPLE_RANGES * SAMPLE_RUN:
            return leads.c.id.between(low, high)
        step = span // SAMPLE_RANGES
        return sa.or_(*(leads.c.id.between(low + k * step, low + k * step + SAMPLE_RUN - 1)
                        for k in range(SAMPLE_RANGES)))

    def ids(self) -> tuple[int, int]:
        if self._ids is None:  # apart: SQLite seeks for a lone min() or max(), else scans
            low = self.conn.scalar(sa.select(sa.func.min(leads.c.id)))
            high = self.conn.scalar(sa.select(sa.func.max(leads.c.id)))
            self._ids = (int(low or 0), int(high or 0))
        return self._ids

    def measure(self, probe: Probe) -> tuple[float, float, float]:
        """(leads reaching the test, events it would read first, all leads). SQLite counts
        the events only up to the break-even point: past it the answer is known."""
        total = self.leads_reached([])
        reached = self.leads_reached(probe.reach)
        budget = break_even(self.dialect, probe, reached, total)
        if budget is None:
            return reached, 0.0, total
        return reached, self.event_count(probe, budget), total

    def leads_reached(self, reach: Sequence[ColumnElement[bool]]) -> float:
        """How many leads pass the ``reach`` tests, from the sample (:meth:`sample`). Planner
        estimates cannot serve: a tier, a custom attribute or a fit score is an expression to
        them, of made-up selectivity."""
        key = tuple(id(test) for test in reach)
        if key in self._reached:
            return self._reached[key][1]
        low, high = self.ids()
        hit = sa.func.count().filter(sa.and_(*reach)) if reach else sa.func.count()
        present, passed = self.conn.execute(
            sa.select(sa.func.count(), hit).select_from(leads).where(self.sample())).one()
        span = high - low + 1
        sampled_ids = min(span, SAMPLE_RANGES * SAMPLE_RUN)
        reached = float(passed) * span / sampled_ids if present else 0.0
        self._reached[key] = (tuple(reach), reached)  # the tests kept: their ids stay theirs
        return reached

    def event_count(self, probe: Probe, budget: float) -> float:
        """Events of the probe's types in its window: counted up to just past ``budget`` on
        SQLite (a covering index range, stopped early), estimated on PostgreSQL."""
        key = (probe.types, probe.since, probe.at)
        known = self._events.get(key)
        if known is not None and (known[1] is None or known[0] <= known[1] or budget < known[1]):
            return known[0]
        where = [events.c.type.in_(probe.types), events.c.occurred_at <= probe.at]
        if probe.since is not None:
            where.append(events.c.occurred_at > probe.since)
        rows = sa.select(sa.literal(1)).select_from(events).where(*where)
        found: tuple[float, float | None]
        if self.dialect == "sqlite":
            cap = int(budget) + 1
            counted = self.conn.scalar(sa.select(sa.func.count()).select_from(
                rows.limit(cap).subquery()))
            found = (float(counted or 0), float(cap - 1))
        else:
            found = (self.estimate(rows), None)
        self._events[key] = found
        return found[0]

    def estimate(self, query: sa.Select[Any]) -> float:
        """PostgreSQL's estimate of the rows a query returns (planning only, nothing scanned).
        The statement runs as the engine would run it (same parameters and types), with
        ``EXPLAIN (FORMAT JSON)`` put in front of its text at the last moment."""

        def explain(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any,
                    _many: bool) -> tuple[str, Any]:
            return "EXPLAIN (FORMAT JSON) " + sql, parameters

        sa.event.listen(self.conn, "before_cursor_execute", explain, retval=True)
        try:
            result = self.conn.execute(query)
            rows = result.cursor.fetchall() if result.cursor is not None else []
            result.close()
        finally:
            sa.event.remove(self.conn, "before_cursor_execute", explain)
        raw = rows[0][0]
        plan = json.loads(raw) if isinstance(raw, str) else raw
        return float(plan[0]["Plan"]["Plan Rows"])

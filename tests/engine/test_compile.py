"""The SQL compiler: fixture pairs (condition -> SQL per dialect, tests/cases/compile/), the
allowlist (T-Q2), dialect choice, and SQLite's power()."""

from __future__ import annotations

import datetime as dt
import sqlite3
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dsl import ast as A
from dsl import symbols
from dsl.parser import parse_source
from engine.conditions import sqlite_math
from engine.conditions.compile import Compiler, audience, compile_condition, count_query
from engine.conditions.model import ConditionError, Context
from engine.conditions.plan import (
    FixedPlanner,
    MeasuredPlanner,
    Planner,
    Probe,
    StaticPlanner,
    break_even,
    choose,
)
from engine.conditions.text import parse_condition
from engine.store.db import connect
from engine.store.fields import UnknownField
from engine.store.schema import events, leads
from tests.engine.conditions_data import CTX_MODULES, T
from tests.golden import CASES, assert_golden

SCORES = (CASES / "compile" / "scores.flow").read_text(encoding="utf-8")


def more_modules() -> list[A.Module]:
    """conditions_data's definitions plus tests/cases/compile/scores.flow's scores."""
    module, diags = parse_source("scores.flow", SCORES)
    assert module is not None, diags
    return [*CTX_MODULES, module]


MODULES = more_modules()
TABLE = symbols.build(MODULES)
CTX = Context(TABLE, TABLE.flows["nurture"])
COMPILE = CASES / "compile"
CONDITIONS = sorted(COMPILE.glob("*.cond"))
DIALECTS = {"sqlite": sqlite.dialect(paramstyle="named"), "postgresql": postgresql.dialect()}


def parse(text: str) -> A.Condition:
    cond, diags = parse_condition(text, MODULES, check=False)
    assert cond is not None, diags
    return cond


def shapes(case: Path) -> Planner | None:
    """Goldens in the fixed shapes of a dialect name, except ``*_events_first`` and
    ``*_per_lead``, which show every event test in that shape."""
    if case.stem.endswith("_events_first"):
        return FixedPlanner(True)
    if case.stem.endswith("_per_lead"):
        return FixedPlanner(False)
    return None


def render(cond: A.Condition, dialect: str, planner: Planner | None = None) -> str:
    compiled = audience(cond, CTX, T, dialect, planner=planner).compile(
        dialect=DIALECTS[dialect])
    params = "\n".join(f"--   {k} = {v!r}" for k, v in compiled.params.items())
    return f"{compiled}\n-- parameters:\n{params}\n"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("case", CONDITIONS, ids=[p.stem for p in CONDITIONS])
def test_compiled_sql(case: Path, dialect: str) -> None:
    cond = parse(case.read_text(encoding="utf-8"))
    assert_golden(render(cond, dialect, shapes(case)), case.with_suffix(f".{dialect}.sql"))


def test_every_condition_form_has_a_compile_method() -> None:
    forms = typing.get_args(A.Condition)
    for form in forms:
        name = "compile_" + "".join("_" + c.lower() if c.isupper() else c
                                    for c in form.__name__).lstrip("_")
        assert callable(getattr(Compiler, name, None)), name


def test_no_sql_keyword_shapes_by_dialect() -> None:
    cond = parse('at least 5 page views in last 90 days and interest > 10')
    pg = str(audience(cond, CTX, T, "postgresql").compile(dialect=DIALECTS["postgresql"]))
    lite = str(audience(cond, CTX, T, "sqlite").compile(dialect=DIALECTS["sqlite"]))
    assert "GROUP BY" in pg and "LEFT OUTER JOIN" in pg  # events-first aggregates
    assert "GROUP BY" not in lite and "JOIN" not in lite  # correlated lookups per lead
    assert "NOT IN" not in pg + lite


def test_dormancy_is_not_exists() -> None:
    cond = parse("no activity in last 180 days")
    for dialect in DIALECTS:
        sql = str(audience(cond, CTX, T, dialect).compile(dialect=DIALECTS[dialect]))
        assert "NOT (EXISTS" in sql and "NOT IN" not in sql


# ---------------------------------------------------------------- allowlist (T-Q2, I11)


def test_unknown_attribute_is_rejected() -> None:
    with pytest.raises(ConditionError, match="sessions"):
        compile_condition(A.Compare(A.Name("sessions"), "=", A.Str("x")), CTX, T, "sqlite")


def test_event_property_outside_the_allowlist_is_rejected() -> None:
    em = A.EventMatch(("page", "views"), (A.EventFilter("where", None, (
        A.PropTest("token", "=", A.Str("x")),)),))
    with pytest.raises(UnknownField, match="token"):
        compile_condition(A.Count("at least", 1, em), CTX, T, "postgresql")


def test_unknown_dialect() -> None:
    with pytest.raises(ConditionError, match="mysql"):
        compile_condition(parse('stage is "lead"'), CTX, T, "mysql")


def test_step_reference_needs_a_flow() -> None:
    with pytest.raises(ConditionError, match="outside any flow"):
        compile_condition(parse("clicked intro"), CTX.for_flow(None), T, "sqlite")


def test_segment_cycle_is_an_error() -> None:
    from dataclasses import replace

    table = replace(CTX.symbols)
    table.segments = {**table.segments, "loop": A.Segment("loop", None, A.SegmentRef("loop"))}
    with pytest.raises(ConditionError, match="refers to itself"):
        compile_condition(A.SegmentRef("loop"), type(CTX)(table, CTX.flow), T, "sqlite")


def test_count_query_counts() -> None:
    engine = sa.create_engine("sqlite://")
    from engine.store.schema import metadata

    metadata.create_all(engine)
    with engine.connect() as conn:
        assert conn.scalar(count_query(parse("employees > 1"), CTX, T, conn)) == 0


# ---------------------------------------------------------------- SQLite power()


class NoPower:
    """A DB-API connection whose SQLite lacks power()."""

    def __init__(self) -> None:
        self.registered: dict[str, Any] = {}

    def execute(self, sql: str) -> Any:
        raise sqlite3.OperationalError("no such function: power")

    def create_function(self, name: str, n: int, fn: Any, deterministic: bool) -> None:
        assert deterministic
        self.registered[name] = fn


def test_power_is_registered_where_sqlite_lacks_it() -> None:
    conn = NoPower()
    sqlite_math._on_connect(conn, None)
    power = conn.registered["power"]
    assert power(0.5, 2.0) == 0.25 and power(None, 1.0) is None


def test_ensure_power_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_math, "builtin_power", lambda: False)  # as on an old SQLite
    engine = sa.create_engine(f"sqlite:///{tmp_path}/x.db")
    sqlite_math.ensure_power(engine)
    sqlite_math.ensure_power(engine)
    assert sa.event.contains(engine, "connect", sqlite_math._on_connect)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT power(0.5, 3.0)")) == 0.125


# ---------------------------------------------------------------- shapes: the planner


def test_cost_rule() -> None:
    """Events first when reading the events costs less than probing each lead that reaches
    the test; existence stays EXISTS on PostgreSQL (its own planner chooses the join). The
    numbers are the benchmark's (1M leads): see docs/benchmarks.md, "Audiences"."""
    def probe(kind: str, *types: str, rows: bool = True) -> Probe:
        return Probe(kind, types, None, T, (), rows)  # type: ignore[arg-type]

    m = 1_000_000
    stage_change, visit = probe("exists", "stage_change"), probe("count", "page_view")
    jitw = probe("exists", "seminar", "exhibition")
    assert choose("sqlite", stage_change, 740_000, 12_000, m)  # recycle_nurture: a day's
    assert choose("sqlite", jitw, 400_000, 273_000, m)  # attended "JITW-2024*": 2 seeks a lead
    assert not choose("sqlite", probe("exists", "page_view", rows=False), 400_000, 1_490_000, m)
    assert not choose("sqlite", visit, 48_000, 2_800_000, m)  # Q2
    assert not choose("postgresql", visit, 48_000, 2_000_000, m)  # Q2: 5% of the leads
    assert choose("postgresql", visit, 400_000, 2_000_000, m)  # topic_interest: 40%
    scored = probe("score", "email_click", "page_view", "download")
    assert not choose("postgresql", scored, 92_000, 3_300_000, m)  # two_axis_mql
    assert not choose("sqlite", scored, 92_000, 3_800_000, m)
    assert not choose("postgresql", probe("exists", "seminar"), m, 10, m)
    assert not choose("sqlite", visit, 0, 0, m)
    # Where SQLite would count the events up to: past that, probing per lead has won.
    assert break_even("sqlite", visit, m, m) == pytest.approx(m * 1.4 / (3.0 - 1.0))
    assert break_even("sqlite", probe("count", "page_view", rows=False), m // 2, m) == \
        pytest.approx(m // 2 * 1.4 / 3.0)
    # PostgreSQL reads an event row events first for less than per lead: every lead reached,
    # events first, however many.
    assert break_even("postgresql", visit, m, m) is None


@pytest.fixture
def planned(db_url: str) -> Iterator[sa.Connection]:
    """3,000 leads, one in a hundred a customer; 20 stage changes in the last day, 4,000 page
    views over the year; statistics gathered."""
    engine = connect(db_url)
    with engine.begin() as conn:
        conn.execute(leads.insert(), [
            {"id": i, "email": f"l{i}@example.com", "created_at": T, "updated_at": T,
             "stage": "customer" if i % 100 == 0 else "lead"} for i in range(1, 3001)])
        conn.execute(events.insert(), [
            {"lead_id": 1 + i % 3000, "type": "stage_change", "to_stage": "recycle",
             "occurred_at": T - dt.timedelta(hours=1 + i)} for i in range(20)])
        conn.execute(events.insert(), [
            {"lead_id": 1 + (7 * i) % 3000, "type": "page_view", "url": "/",
             "occurred_at": T - dt.timedelta(hours=2 * i)} for i in range(4000)])
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")  # PostgreSQL estimates from its statistics
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_measured_shapes(planned: sa.Connection) -> None:
    measured = audience(parse('stage is "customer" and at least 2 page views'), CTX, T, planned)
    assert "GROUP BY" not in str(measured.compile(planned))  # 30 customers to probe
    # Measuring left the caller's connection as it was: no transaction begun.
    assert not planned.in_transaction()
    with planned.begin():
        assert planned.scalar(sa.select(sa.func.count()).select_from(leads)) == 3000
    planner = MeasuredPlanner(planned)
    pg = planned.dialect.name == "postgresql"
    day = T - dt.timedelta(days=1)
    customers = [leads.c.stage == "customer"]
    # Leads reaching a test, from a sample of 20 runs of 100 ids: exact here (one customer
    # in each run of 100 consecutive ids).
    assert planner.leads_reached([]) == 3000
    assert planner.leads_reached(customers) == pytest.approx(30)
    # A day's stage changes: 20 events against 3,000 probes.
    assert planner.events_first(Probe("exists", ("stage_change",), day, T)) is (not pg)
    assert planner.events_first(Probe("count", ("stage_change",), day, T)) is True
    # 4,000 page views: SQLite probes 3,000 leads sooner; PostgreSQL reads them sooner,
    # unless the tests before leave 30 leads to probe.
    assert planner.events_first(Probe("count", ("page_view",), None, T)) is pg
    assert planner.events_first(Probe("score", ("page_view",), None, T, customers)) is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL orders by itself
def test_event_tests_ordered_by_measured_selectivity(planned: sa.Connection) -> None:
    """SQLite evaluates the terms of a WHERE in the order written. Guessed, asking for two
    events rules out more leads than asking for none; measured here, every lead has a page
    view (so `no page view` rules out all of them, at less cost) and none two stage changes."""
    cond = parse("at least 2 stage changes and no page view")

    def order(sql: str) -> list[str]:
        return sorted(["count", "absence"], key=lambda k: sql.index(
            "count(*)" if k == "count" else "NOT (EXISTS"))

    assert order(str(audience(cond, CTX, T, "sqlite").compile(planned))) == ["count", "absence"]
    measured = audience(cond, CTX, T, planned)
    assert order(str(measured.compile(planned))) == ["absence", "count"]
    assert list(planned.scalars(measured)) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL estimates
def test_capped_event_counts_are_counted_again_for_a_larger_budget(
        planned: sa.Connection) -> None:
    planner = MeasuredPlanner(planned)
    probe = Probe("count", ("page_view",), None, T)
    assert planner.event_count(probe, 99) == 100  # stopped just past the budget
    assert planner.event_count(probe, 50) == 100  # still more than that budget: kept
    assert planner.event_count(probe, 10_000) == 4000  # counted again, in full
    assert planner.event_count(probe, 10) == 4000


def test_a_failed_measurement_falls_back_to_fixed_shapes(pg_database: str,
                                                         tmp_path: Path) -> None:
    """No tables to measure: the planner gives the fixed shapes, and the caller's connection
    stays usable, whether it had a transaction open or not (on PostgreSQL, where an error
    aborts a transaction, the measurement runs in a savepoint)."""
    probes = [Probe(kind, ("page_view",), None, T) for kind in ("exists", "count", "score")]
    for url in (f"sqlite:///{tmp_path}/empty.db", pg_database):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            static = [StaticPlanner(conn.dialect.name).events_first(p) for p in probes]
            assert [MeasuredPlanner(conn).events_first(p) for p in probes] == static
            assert not conn.in_transaction()
            with conn.begin():
                assert conn.scalar(sa.text("SELECT 1")) == 1
                assert [MeasuredPlanner(conn).events_first(p) for p in probes] == static
                assert conn.scalar(sa.text("SELECT 2")) == 2
        engine.dispose()

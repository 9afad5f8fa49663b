"""The SQL compiler: fixture pairs (condition -> SQL per dialect, tests/cases/compile/), the
allowlist (T-Q2), dialect choice, and SQLite's power()."""

from __future__ import annotations

import sqlite3
import typing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dsl import ast as A
from engine.conditions import sqlite_math
from engine.conditions.compile import Compiler, audience, compile_condition, count_query
from engine.conditions.model import ConditionError
from engine.conditions.text import parse_condition
from engine.store.fields import UnknownField
from tests.engine.conditions_data import CTX_MODULES, T, context
from tests.golden import CASES, assert_golden

CTX = context()
COMPILE = CASES / "compile"
CONDITIONS = sorted(COMPILE.glob("*.cond"))
DIALECTS = {"sqlite": sqlite.dialect(paramstyle="named"), "postgresql": postgresql.dialect()}


def parse(text: str) -> A.Condition:
    cond, diags = parse_condition(text, CTX_MODULES, check=False)
    assert cond is not None, diags
    return cond


def render(cond: A.Condition, dialect: str) -> str:
    compiled = audience(cond, CTX, T, dialect).compile(dialect=DIALECTS[dialect])
    params = "\n".join(f"--   {k} = {v!r}" for k, v in compiled.params.items())
    return f"{compiled}\n-- parameters:\n{params}\n"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("case", CONDITIONS, ids=[p.stem for p in CONDITIONS])
def test_compiled_sql(case: Path, dialect: str) -> None:
    cond = parse(case.read_text(encoding="utf-8"))
    assert_golden(render(cond, dialect), case.with_suffix(f".{dialect}.sql"))


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

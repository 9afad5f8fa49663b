"""The heart of the condition tests: for random conditions, leads and events, the leads the
compiled SQL selects are exactly those for which the reference interpreter says true, on SQLite
and on PostgreSQL (``db_url``). Also T-Q1 (SQL metacharacters only ever as bound parameters,
matching literally) and T-Q5 (pathological patterns escaped and fast)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from dsl import ast as A
from dsl.formatter import condition as show
from engine.conditions.compile import audience
from engine.conditions.model import Context, Event
from engine.conditions.reference import Interpreter
from engine.conditions.rows import load_leads
from engine.conditions.sqlite_math import ensure_power
from engine.store.db import connect
from tests.engine.condition_strategies import conditions
from tests.engine.conditions_data import TIMES, Lead, a_lead, context, seed

CTX = context()
EPSILON = 1e-6
# Every number a condition or a definition can compare a score with.
THRESHOLDS = [-5, 0, 1, 2, 3, 5, 12.5, 30, 40.5, 99, 100, 500]


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    engine = connect(db_url)
    ensure_power(engine)
    yield engine
    engine.dispose()


def near_boundary(lead: dict[str, Any], events: list[Event], at: dt.datetime,
                  ctx: Context) -> bool:
    """Whether a decayed score of this lead sits within float noise of a value it may be
    compared with: there SQL and Python may round differently, so the lead proves nothing.
    (Scores without decay are sums of the written points: exact in both.)"""
    it = Interpreter(lead, events, at, ctx)
    breakdowns = [it.score(name) for name in ctx.symbols.scores]
    values = [b.total for b in breakdowns]
    others = [v for v in (lead.get("employees"), lead.get("seats")) if v is not None]
    for i, b in enumerate(breakdowns):
        if b.options.half_life is None or not any(c.event for c in b.contributions):
            continue
        peers = [*THRESHOLDS, *others, *values[:i], *values[i + 1:]]
        if any(math.isclose(values[i], c, rel_tol=EPSILON, abs_tol=EPSILON) for c in peers):
            return True
    return False


def assert_agree(engine: sa.Engine, people: Sequence[Lead], conds: Sequence[A.Condition],
                 at: dt.datetime, ctx: Context = CTX) -> None:
    with engine.begin() as conn:
        ids = seed(conn, people, at)
    with engine.connect() as conn:
        data = load_leads(conn, ids, ctx)
        unsure = {i for i, (lead, evs) in data.items() if near_boundary(lead, evs, at, ctx)}
        for cond in conds:
            got = set(conn.scalars(audience(cond, ctx, at, conn))) - unsure
            want = {i for i, (lead, evs) in data.items()
                    if Interpreter(lead, evs, at, ctx).holds(cond)} - unsure
            assert got == want, (
                f"{engine.dialect.name} disagrees with the reference on `{show(cond)}`:\n"
                f"  SQL only: {sorted(got - want)}  reference only: {sorted(want - got)}\n"
                + "\n".join(f"  lead {i}: {data[i][0]} events={data[i][1]}"
                            for i in sorted(got ^ want)))


examples = st.sampled_from(TIMES).flatmap(lambda at: st.tuples(
    st.just(at), st.lists(a_lead(at), min_size=2, max_size=8),
    st.lists(conditions, min_size=1, max_size=4)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=examples)
def test_sql_equals_reference(store: sa.Engine,
                              example: tuple[dt.datetime, list[Lead], list[A.Condition]]) -> None:
    at, people, conds = example
    assert_agree(store, people, conds, at)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=examples)
def test_sql_equals_reference_many(store: sa.Engine,
                                   example: tuple[dt.datetime, list[Lead], list[A.Condition]]
                                   ) -> None:
    at, people, conds = example
    assert_agree(store, people, conds, at)


# ---------------------------------------------------------------- T-Q1: SQL metacharacters

HOSTILE = ["' OR 1=1 --", "; DROP TABLE leads", "'); DELETE FROM events; --", '"', "\\", "%",
           "_", "/", "' || (SELECT token FROM sessions) || '"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(HOSTILE) | st.text(min_size=1, max_size=12).filter(
    lambda s: "\x00" not in s))
def test_metacharacters_are_bound_and_literal(store: sa.Engine, text: str) -> None:
    def forms(literal: str) -> list[A.Condition]:
        return [A.Compare(A.Name("stage"), "is", A.Str(literal)),
                A.TextMatch(A.Name("title"), "contains", A.Str(literal)),
                A.Did("visited", A.Str(literal)),
                A.Count("at least", 1, A.EventMatch(("page", "views"), (A.EventFilter(
                    "where", None, (A.PropTest("campaign", "=", A.Str(literal)),)),)))]

    # The SQL text is the same whatever the literal: it only ever travels as a parameter.
    for d in (sqlite.dialect(), postgresql.dialect()):
        for cond, benign in zip(forms(text), forms("benign"), strict=True):
            compiled = audience(cond, CTX, TIMES[0], d.name).compile(dialect=d)
            plain = str(audience(benign, CTX, TIMES[0], d.name).compile(dialect=d))
            assert str(compiled) == plain and "benign" not in plain
    stage, contains, visited, campaign = forms(text)
    people = [Lead({"stage": text, "title": f"x{text}y"},
                   events=[{"type": "page_view", "occurred_at": TIMES[0], "url": text,
                            "campaign": text}]),
              Lead({"stage": text + " ", "title": "other"}), Lead({"stage": "lead"})]
    assert_agree(store, people, [stage, contains, visited, campaign, A.Not(stage)], TIMES[0])
    with store.connect() as conn:  # nothing was dropped or deleted
        assert conn.scalar(sa.select(sa.func.count()).select_from(sa.table("leads"))) == 3


# ---------------------------------------------------------------- T-Q5: pathological patterns


@pytest.mark.parametrize("pattern", ["%%%%", "____", "*" * 5000, "*a" * 60 + "*b",
                                     "*%*_*" * 40])
def test_pathological_patterns_are_escaped_and_fast(store: sa.Engine, pattern: str) -> None:
    long = "a" * 3000
    people = [Lead({"title": long}) for _ in range(40)]
    people += [Lead({"title": "%%%%"}), Lead({"title": "____"}), Lead({"title": "ab"}),
               Lead({"title": "a%_b"})]
    cond = A.TextMatch(A.Name("title"), "matches", A.Str(pattern))
    started = time.monotonic()
    assert_agree(store, people, [cond, A.Not(cond)], TIMES[0])
    assert time.monotonic() - started < 5


def test_scores_with_python_power_on_sqlite(tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """Where SQLite lacks power(), the registered Python function gives the same scores."""
    from engine.conditions import sqlite_math

    monkeypatch.setattr(sqlite_math, "builtin_power", lambda: False)
    monkeypatch.setattr(sqlite_math, "has_power", lambda conn: False)  # overrides the builtin
    engine = connect(f"sqlite:///{tmp_path}/power.db")
    ensure_power(engine)
    day = dt.timedelta(days=1)
    people = [Lead(events=[{"type": "email_click", "occurred_at": TIMES[0] - k * day}
                           for k in range(n)]) for n in range(6)]
    conds = [A.Compare(A.Name("interest"), ">=", A.Num(v)) for v in (0, 3, 5.5, 8, 12.5)]
    assert_agree(engine, people, conds, TIMES[0])
    engine.dispose()

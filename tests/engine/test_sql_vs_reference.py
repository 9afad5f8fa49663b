"""The heart of the condition tests: for random conditions, leads and events, the leads the
compiled SQL selects are exactly those for which the reference interpreter says true, on SQLite
and on PostgreSQL (``db_url``), in every shape the planner can choose (per lead, events first,
and what it measures on the data). Also T-Q1 (SQL metacharacters only ever as bound parameters,
matching literally), T-Q5 (pathological patterns escaped and fast) and automated events, which
scores ignore."""

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
from engine.conditions.plan import FixedPlanner, Planner
from engine.conditions.reference import Interpreter
from engine.conditions.rows import load_leads
from engine.conditions.sql_scores import MACHINE
from engine.conditions.sqlite_math import ensure_power
from engine.store.db import connect
from tests.engine.condition_strategies import PHRASES, conditions, event_matches, windows
from tests.engine.conditions_data import TIMES, Lead, a_lead, an_event, context, seed

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


# None: the shapes the planner measures on the (tiny) data; then every test in each shape.
PLANNERS: tuple[Planner | None, ...] = (None, FixedPlanner(True), FixedPlanner(False))


def assert_agree(engine: sa.Engine, people: Sequence[Lead], conds: Sequence[A.Condition],
                 at: dt.datetime, ctx: Context = CTX,
                 planners: Sequence[Planner | None] = PLANNERS) -> None:
    with engine.begin() as conn:
        ids = seed(conn, people, at)
    with engine.connect() as conn:
        data = load_leads(conn, ids, ctx)
        unsure = {i for i, (lead, evs) in data.items() if near_boundary(lead, evs, at, ctx)}
        for cond in conds:
            want = {i for i, (lead, evs) in data.items()
                    if Interpreter(lead, evs, at, ctx).holds(cond)} - unsure
            for planner in planners:
                query = audience(cond, ctx, at, conn, planner=planner)
                got = set(conn.scalars(query)) - unsure
                assert got == want, (
                    f"{engine.dialect.name} ({planner or 'measured'}) disagrees with the "
                    f"reference on `{show(cond)}`:\n"
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
@given(example=examples, planner=st.sampled_from(PLANNERS))
def test_sql_equals_reference_many(store: sa.Engine,
                                   example: tuple[dt.datetime, list[Lead], list[A.Condition]],
                                   planner: Planner | None) -> None:
    """Many more examples, each in one shape drawn at random (all three would triple CI)."""
    at, people, conds = example
    assert_agree(store, people, conds, at, planners=[planner])


# ---------------------------------------------------------------- counts read together

# Phrases of one stored event type each, and that type.
ONE_KIND = {("page", "views"): "page_view", ("email", "clicks"): "email_click",
            ("downloads",): "download", ("stage", "changes"): "stage_change"}


@st.composite
def counts_of_one_kind(draw: st.DrawFn) -> A.Condition:
    """An ``or`` of counts of one kind in one window, with their own filters: the counts the
    compiler reads in one pass (at least N > 1), mixed with some it must not (N <= 1), through
    segments or not."""
    words = draw(st.sampled_from(sorted(ONE_KIND)))
    window = draw(windows)
    items: list[A.Condition] = []
    for _ in range(draw(st.integers(2, 4))):
        em = draw(event_matches())
        filters = tuple(f for f in em.filters if f.kind in PHRASES[words])
        items.append(A.Count("at least", draw(st.sampled_from([2, 2, 3, 4, 1, 0])),
                             A.EventMatch(words, filters), window))
    if draw(st.booleans()):
        items.append(A.SegmentRef("engaged"))
    return A.Or(tuple(items))


@st.composite
def busy_lead(draw: st.DrawFn, at: dt.datetime) -> Lead:
    """A lead with many events of the kinds above, so that counts of 2 to 4 often hold."""
    lead = draw(a_lead(at))
    more = draw(st.lists(an_event(at), min_size=2, max_size=14))
    kinds = st.sampled_from(sorted(ONE_KIND.values()))
    lead.events += [{**e, "type": draw(kinds)} for e in more]
    return lead


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=st.sampled_from(TIMES).flatmap(lambda at: st.tuples(
    st.just(at), st.lists(busy_lead(at), min_size=2, max_size=6),
    st.lists(counts_of_one_kind() | st.builds(A.Not, counts_of_one_kind()), min_size=1,
             max_size=3))))
def test_counts_read_together_equal_reference(
        store: sa.Engine, example: tuple[dt.datetime, list[Lead], list[A.Condition]]) -> None:
    at, people, conds = example
    assert_agree(store, people, conds, at)


# ---------------------------------------------------------------- tiers


def test_every_tier_category_test(store: sa.Engine) -> None:
    """``is`` / ``is not`` / ``in`` / ``not in`` of every category and pair, bare and under
    ``not``, for titles that match several entries (the first wins) and every size boundary:
    the direct tests of a tier's source mean exactly what its first-match CASE means."""
    from tests.engine.condition_strategies import TIERS
    from tests.engine.conditions_data import TEXTS

    titles: list[str | None] = [*TEXTS, None, "Chief Manager", "manager 100%_x", "100%_a"]
    sizes: list[int | None] = [None, -3, 0, 1, 2, 50, 99, 100, 499, 500, 10_000]
    people = [Lead({"title": t, "employees": sizes[i % len(sizes)]})
              for i, t in enumerate(titles)]
    conds: list[A.Condition] = []
    for tier, categories in TIERS.items():
        names = [A.Name(c) for c in [*categories, "nonexistent"]]
        for c in names:
            conds += [A.Compare(A.Name(tier), op, c) for op in ("is", "is not", "=", "!=")]
        pairs = [(a, b) for a in names for b in names if a != b]
        conds += [A.InList(A.Name(tier), pair, negated) for pair in pairs
                  for negated in (False, True)]
    assert_agree(store, people, [*conds, *(A.Not(c) for c in conds)], TIMES[0])


@pytest.mark.parametrize("at", TIMES[:1])
def test_when_lines_sharing_a_case(store: sa.Engine, at: dt.datetime) -> None:
    """tests/cases/compile/scores.flow: `when` lines folded into one CASE (one tier's disjoint
    categories, where a later WHEN drops the entries an earlier one ruled out; one attribute's
    different values) and lines that must not be (overlapping categories, a value twice)."""
    from tests.engine.conditions_data import TEXTS
    from tests.engine.test_compile import CTX as MORE

    titles: list[str | None] = [*TEXTS, None, "Chief Manager", "manager"]
    sizes: list[int | None] = [None, 0, 1, 2, 99, 100, 499, 500]
    plans: list[Any] = ["gold", "silver", "Gold", 3, None]
    seats: list[Any] = [40.5, 5, 5.0, "5", None, 41]
    people = [Lead({"title": t, "employees": sizes[i % len(sizes)]},
                   {"plan": plans[i % len(plans)], "seats": seats[i % len(seats)]})
              for i, t in enumerate(titles)]
    values = (-27, -20, -7, 0, 1, 3, 5, 10, 13, 18, 30, 37, 45, 46, 60)
    conds = [A.Compare(A.Name(score), op, A.Num(v)) for score in ("fit", "loose")
             for op in (">=", "=", "<") for v in values]
    assert_agree(store, people, conds, at, MORE)


# ---------------------------------------------------------------- automated events


@pytest.mark.skipif(not MACHINE, reason="events.machine arrives with migration 0004")
def test_scores_ignore_machine_events(store: sa.Engine) -> None:
    """A link scanner's clicks give no points; a person's do (``machine`` NULL). Conditions
    skip flagged clicks and opens too (``at least 3 email clicks``: the first lead has one)."""
    at = TIMES[0]
    click = {"type": "email_click", "occurred_at": at - dt.timedelta(hours=1), "machine": None}
    view = {"type": "page_view", "occurred_at": at - dt.timedelta(days=1), "url": "/pricing",
            "machine": None}
    people = [Lead(events=[click, {**click, "machine": True}, {**click, "machine": True}]),
              Lead(events=[{**click, "machine": True}, {**view, "machine": True}]),
              Lead(events=[click, click, view]),
              Lead(events=[{**view, "machine": True}, view])]
    with store.begin() as conn:
        ids = seed(conn, people, at)
    with store.connect() as conn:
        data = load_leads(conn, ids, CTX)
    plain = [Interpreter(lead, evs, at, CTX).score("plain").total
             for lead, evs in (data[i] for i in ids)]
    assert plain == [0.0, 0.0, 1.0, 1.0]  # +1 per page view: the machine's views give nothing
    conds: list[A.Condition] = [A.Compare(A.Name(score), op, A.Num(v))
                                for score in ("interest", "plain")
                                for op in (">", ">=", "<=", "=") for v in (0, 1, 2, 3, 5.5)]
    conds.append(A.Count("at least", 3, A.EventMatch(("email", "clicks")), None))
    assert_agree(store, people, conds, at)


def test_capped_scores_compare_exactly(store: sa.Engine) -> None:
    """``at most 60`` caps interest: comparisons at, below and above the cap, both ways round,
    for leads far above it."""
    at = TIMES[0]
    seminar = {"type": "seminar", "occurred_at": at - dt.timedelta(minutes=5)}
    people = [Lead(events=[seminar] * k) for k in (0, 1, 3, 4, 8)]
    conds = [A.Compare(a, op, b) for v in (0, 20, 59.5, 60, 61, 100) for op in ("<", "<=", ">",
                                                                                ">=", "=", "!=")
             for a, b in ((A.Name("interest"), A.Num(v)), (A.Num(v), A.Name("interest")))]
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


def test_clicked_step_counts_from_the_latest_entry(store: sa.Engine) -> None:
    """`clicked intro` (inside flow `nurture`): a click from an earlier run through the flow
    does not count after re-entry; a lead that never entered has not clicked it."""
    at = TIMES[0]
    day = dt.timedelta(days=1)

    def click(ago: dt.timedelta) -> dict[str, Any]:
        return {"type": "email_click", "occurred_at": at - ago, "flow": "nurture",
                "step": "intro"}

    people = [
        Lead(events=[click(400 * day)], entries=[at - 410 * day, at - 10 * day]),  # last year
        Lead(events=[click(400 * day), click(2 * day)],
             entries=[at - 410 * day, at - 10 * day]),  # and again in this run
        Lead(events=[click(2 * day)]),  # never entered
        Lead(events=[click(5 * day)], entries=[at - 5 * day]),  # on the instant of entry
        Lead(events=[{**click(2 * day), "flow": "other"}], entries=[at - 10 * day]),
    ]
    cond = A.Did("clicked", A.Name("intro"))
    assert_agree(store, people, [cond], at)
    with store.connect() as conn:
        assert list(conn.scalars(audience(cond, CTX, at, conn))) == [2, 4]

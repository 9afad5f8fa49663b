"""`engine plan` at T shows exactly what `engine run --once` at T then does, day after day.

The example flows run over a demo store for 60 simulated days (21 on PostgreSQL; one tick a
day at 10:00 in Tokyo, a few at odd hours), with delivery and the leads' responses simulated
between ticks (tests/engine/runtime/demo_world.py), so that waits time out, caps fill, leads
click, reach goals and are handed off. At every moment: plan, check the plan wrote nothing,
run, and compare the plan's actions (flow, step, action, email, template, status, occurrence)
with what the run wrote, as a multiset: a missing, extra or doubled action fails.

And a tick is idempotent: the same tick twice does nothing the second time (no outbox or
journal row, no enrollment or lead touched).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.runtime.runner import make_plan, run_once
from engine.store.schema import enrollments, events, journal, lead_tags, leads, outbox, settings
from tests.engine.runtime.demo_world import (
    SETTINGS,
    demo_store,
    differences,
    folder,
    moments,
    next_day,
    plan_actions,
    raw_rows,
    run_actions,
)

LEADS = 400
# Two months on SQLite; three weeks on PostgreSQL, where a day costs twice as much (the same
# code, and the whole suite's time counts). PLAN_DAYS=60 runs two months on both.
DAYS = {"sqlite": 60, "postgresql": int(os.environ.get("PLAN_DAYS", "21"))}


def fingerprint(engine: Engine) -> tuple[Any, ...]:
    """Cheap evidence that nothing was written: row counts, revisions, statuses, last changes."""
    with engine.connect() as conn:
        def one(query: Any) -> Any:
            return conn.execute(query).one()

        return (
            *[one(sa.select(sa.func.count()).select_from(t))
              for t in (outbox, journal, enrollments, lead_tags, events, settings)],
            one(sa.select(sa.func.sum(enrollments.c.revision),
                          sa.func.max(enrollments.c.updated_at))),
            tuple(conn.execute(sa.select(outbox.c.status, sa.func.count())
                               .group_by(outbox.c.status).order_by(outbox.c.status))),
            one(sa.select(sa.func.max(outbox.c.updated_at))),
            one(sa.select(sa.func.max(leads.c.updated_at))),
        )


def plan_then_run(engine: Engine, moments_: list[dt.datetime]) -> Counter[str]:
    """Plan and run at each moment, asserting they agree; returns what was done, by kind."""
    seen: Counter[str] = Counter()
    for at in moments_:
        before = fingerprint(engine)
        plan = make_plan(engine, folder(), at, SETTINGS, subjects=False)
        assert fingerprint(engine) == before, f"{at}: the plan wrote to the store"
        run_once(engine, folder(), at, SETTINGS, deliver=False)
        planned, done = plan_actions(plan.actions), run_actions(engine, at)
        assert planned == done, f"plan != run at {at.isoformat()}: " + differences(planned, done)
        seen.update(f"{k[2]}:{k[5]}" for k in done.elements())
        next_day(engine, at)
    return seen


def test_plan_predicts_run_over_a_few_days(tmp_path: Any) -> None:
    """The quick version (SQLite, four days, the first tick at 23:59 in Tokyo so that the gate
    defers the first sends to the morning): the slow one below runs two months on both
    databases."""
    engine = demo_store(f"sqlite:///{tmp_path}/store.db", 150)
    daily = moments(4, odd_every=100)
    try:
        seen = plan_then_run(engine, [daily[0] - dt.timedelta(hours=10, minutes=1), *daily[1:]])
    finally:
        engine.dispose()
    assert seen["send:will send"] and seen["send:deferred"] and seen["send:suppressed"], seen


@pytest.mark.slow
def test_plan_predicts_run_for_two_months(db_url: str) -> None:
    engine = demo_store(db_url, LEADS)
    try:
        seen = plan_then_run(engine, moments(DAYS[engine.dialect.name]))
    finally:
        engine.dispose()
    # The weeks exercised every kind of action, not only first sends.
    for kind in ("send:will send", "send:deferred", "send:suppressed", "send:cancelled",
                 "notify:will send", "handoff:assigned", "set:done", "tag:done", "exit:done",
                 "goal:done", "complete:done"):
        assert seen[kind] > 0, (kind, seen)


@pytest.mark.parametrize("day", [1, 8])
def test_the_same_tick_twice_does_nothing_the_second_time(db_url: str, day: int) -> None:
    """On the first day (everyone enters) and after a week (waits ending, sends, branches,
    `wait until` a date re-read): the second tick at the same T writes nothing at all."""
    engine = demo_store(db_url, 100)
    try:
        for at in moments(day - 1, odd_every=100):
            run_once(engine, folder(), at, SETTINGS, deliver=False)
            next_day(engine, at)
        at = moments(day, odd_every=100)[-1]
        first = run_once(engine, folder(), at, SETTINGS, deliver=False)
        assert sum(t.advanced for t in first.ticks) > 0
        before = raw_rows(engine)
        again = run_once(engine, folder(), at, SETTINGS, deliver=False)
        after = raw_rows(engine)
    finally:
        engine.dispose()
    for table, rows in before.items():
        assert after[table] == rows, f"the second tick changed {table}"
    assert [(t.entered, t.advanced, t.exited, t.goals, dict(t.actions)) for t in again.ticks] \
        == [(0, 0, 0, 0, {})] * len(again.ticks)
    assert (again.gate.deferred, again.gate.blocked, again.handoffs.assigned) == (0, 0, 0)

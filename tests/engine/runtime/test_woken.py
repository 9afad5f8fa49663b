"""The tick looks only at enrollments whose wait may be over (Tick.woken: the wake time has
come, or the event or date waited for is there, tested in SQL per lead). That choice must be
exact: an enrollment it leaves out is one the step would have left as it was. Here a random
world (leads entering on different days, dates moved earlier, later, cleared and set, clicks on
the flow's email before and after the wait started, form submissions, another flow's clicks)
is ticked day by day twice, once as the engine does and once with every waiting enrollment
read into Python (the behaviour before the choice existed), and the two stores must agree on
every enrollment, journal row and intent after every tick."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from engine.runtime.tick import Tick
from engine.store.schema import enrollments, journal, leads, outbox
from tests.engine.runtime.harness import add_event, add_lead, days, deliver, folder, store, tick

T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
FLOW = """
attributes:
    renewal_date: date

flow t:
    enter when stage is "lead"
    send intro "dormant/intro.html"
    wait until clicked intro or 5 days
    wait until renewal_date - 10 days
    if renewal_date is unknown:
        exit "no renewal date"
    wait until submitted "contact*" in last 30 days or 4 days
    send "dormant/tips.html"
"""


def everything_waiting(self: Tick) -> ColumnElement[bool]:
    """Before Tick.woken: every waiting enrollment is due at every tick."""
    return sa.or_(enrollments.c.wake_at <= self.at, enrollments.c.waiting_for.is_not(None))


def world(engine: Engine, seed: int) -> list[tuple[dt.datetime, str, int, dict[str, Any]]]:
    """Leads now; the changes (date moves, events) to apply, each at its moment."""
    rng = random.Random(seed)
    changes: list[tuple[dt.datetime, str, int, dict[str, Any]]] = []
    for i in range(60):
        custom = {} if rng.random() < 0.15 else {
            "renewal_date": (T0 + days(rng.randint(-5, 40))).date().isoformat()}
        lead = add_lead(engine, f"w{i}@example.com", T0 - days(60),
                        stage="lead" if rng.random() < 0.8 else "customer", custom=custom)
        for _ in range(rng.randint(0, 3)):
            when = T0 + days(rng.randint(-3, 25)) + dt.timedelta(hours=rng.randint(0, 23))
            kind = rng.choice(["click", "other_click", "form", "date", "date", "today",
                               "stage"])
            changes.append((when, kind, lead, {"days": rng.randint(-10, 40)}))
    return sorted(changes, key=lambda c: (c[0], c[2]))


def apply(engine: Engine, change: tuple[dt.datetime, str, int, dict[str, Any]]) -> None:
    when, kind, lead, extra = change
    if kind == "click":
        add_event(engine, lead, "email_click", when, flow="t", step="intro",
                  link="https://example.com/a")
    elif kind == "other_click":
        add_event(engine, lead, "email_click", when, flow="other", step="intro",
                  link="https://example.com/b")
    elif kind == "form":
        add_event(engine, lead, "form_submit", when, form="contact-us")
    else:
        with engine.begin() as conn:
            if kind == "stage":
                conn.execute(leads.update().where(leads.c.id == lead).values(stage="lead"))
                return
            if kind == "today":  # the date of the tick that sees the change: a wait on
                # "renewal_date - 10 days" written for a later day ends at that tick
                ticks = math.ceil((when - T0) / days(1))
                date = (T0 + days(ticks + 10)).date().isoformat()
                value = {"renewal_date": date}
            else:
                date = (when + days(extra["days"])).date().isoformat()
                value = {} if extra["days"] > 35 else {"renewal_date": date}
            conn.execute(leads.update().where(leads.c.id == lead).values(custom=value))


def state(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(sa.select(
                enrollments.c.lead_id, enrollments.c.step, enrollments.c.state,
                enrollments.c.wake_at, enrollments.c.waiting_for, enrollments.c.counters,
                enrollments.c.revision, enrollments.c.end_reason).order_by(enrollments.c.id))],
            [tuple(r) for r in conn.execute(sa.select(
                journal.c.lead_id, journal.c.step, journal.c.event, journal.c.details,
                journal.c.at).order_by(journal.c.id))],
            [tuple(r) for r in conn.execute(sa.select(
                outbox.c.lead_id, outbox.c.step, outbox.c.template, outbox.c.created_at)
                .order_by(outbox.c.id))])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_only_the_waits_that_are_over_are_looked_at_and_nothing_else_changes(
        db_url: str, tmp_path: Any, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    f = folder(FLOW)
    chosen = store(db_url)
    if db_url.startswith("sqlite"):
        every = store(f"sqlite:///{tmp_path / 'every.db'}")
    else:  # a second database on the same server
        admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE every_{seed} TEMPLATE template0")
        admin.dispose()
        every = store(db_url.rsplit("/", 1)[0] + f"/every_{seed}")
    changes = world(chosen, seed)
    assert world(every, seed) == changes
    woken = Tick.woken
    looked_at = {"chosen": 0, "every": 0}
    due_ids = Tick.due_ids

    def counting(name: str) -> Any:
        def count(self: Tick) -> Any:
            ids = due_ids(self)
            looked_at[name] += len(ids)
            return ids
        return count

    for day in range(0, 30):
        at = T0 + days(day)
        while changes and changes[0][0] <= at:
            change = changes.pop(0)
            apply(chosen, change)
            apply(every, change)
        monkeypatch.setattr(Tick, "woken", woken)
        monkeypatch.setattr(Tick, "due_ids", counting("chosen"))
        tick(chosen, f, at)
        monkeypatch.setattr(Tick, "woken", everything_waiting)
        monkeypatch.setattr(Tick, "due_ids", counting("every"))
        tick(every, f, at)
        deliver(chosen, at)
        deliver(every, at)
        assert state(chosen) == state(every), f"day {day}"
    assert looked_at["chosen"] < looked_at["every"]  # the choice is not everything
    steps = {r[1] for r in state(chosen)[1]}
    assert {"intro+1", "intro+2", "intro+4"} <= steps  # every kind of wait ended somewhere

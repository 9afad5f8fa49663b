"""Tick behaviours that the whole-runtime tests (plan = run, crashes, two processes) led to, each
pinned on a small flow, on SQLite and PostgreSQL:

- a wait that is the first step of a flow, or of `on goal:`, is waited (an enrollment that
  arrives at a wait starts it; only one that was already waiting there resumes);
- a tick redone at the same T (after a crash between the entries and the stepping) journals
  each entry once, even when the audience has grown meanwhile;
- `wait until` a date does not rewrite a waiting enrollment at every tick.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dsl.parser import parse_source
from engine.config import Settings
from engine.runtime.model import Folder
from engine.runtime.runner import run_once, writer
from engine.runtime.tick import Tick, Unit
from engine.store.db import connect
from engine.store.schema import enrollments, journal, leads, outbox

SETTINGS = Settings(secret="regression-test-secret")
T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Tokyo
POLICY = "policy:\n    at most 5 emails per lead per 1 day\n"
TEAM = '\nteam sales:\n    email "sales@example.co.jp"\n'


def folder(text: str) -> Folder:
    modules = []
    for name, source in (("shared.flow", POLICY + TEAM), ("t.flow", text)):
        module, diags = parse_source(name, source)
        assert module is not None and not [d for d in diags if d.is_error], diags
        modules.append(module)
    return Folder.from_modules(modules, {"t.flow"})


def add_lead(engine: Engine, email: str, **values: Any) -> int:
    row = {"email": email, "consent": True, "created_at": T0 - dt.timedelta(days=40),
           "updated_at": T0 - dt.timedelta(days=40), "country": "JP",
           "legal_basis": "web form opt-in", "stage": "lead", **values}
    with engine.begin() as conn:
        return int(conn.execute(leads.insert().values(**row).returning(leads.c.id)).scalar_one())


def sends(engine: Engine) -> list[tuple[str, str, dt.datetime]]:
    with engine.connect() as conn:
        return [(r.action, r.step, r.created_at) for r in conn.execute(
            sa.select(outbox).order_by(outbox.c.id))]


def enrollment(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(enrollments)).one()


def tick(engine: Engine, f: Folder, at: dt.datetime) -> None:
    run_once(engine, f, at, SETTINGS, deliver=False)


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.mark.parametrize("first", ["wait 3 days", 'wait until clicked any email or 3 days'])
def test_a_wait_as_the_first_step_is_waited(store: Engine, first: str) -> None:
    f = folder(f'flow t:\n    enter when stage is "lead"\n    {first}\n'
               '    send intro "dormant/intro.html"\n')
    add_lead(store, "a@example.com")
    tick(store, f, T0)
    assert sends(store) == []
    row = enrollment(store)
    assert (row.state, row.wake_at) == ("waiting", T0 + days(3))
    tick(store, f, T0 + days(1))
    assert sends(store) == []
    tick(store, f, T0 + days(3))
    assert sends(store) == [("send", "intro", T0 + days(3))]


def test_on_goal_starting_with_a_wait_waits(store: Engine) -> None:
    f = folder('flow t:\n    enter when stage is "lead"\n    goal when stage is "mql"\n'
               '    send intro "dormant/intro.html"\n    wait 30 days\n'
               '    on goal:\n        wait 2 days\n        notify team sales "alerts/mql.txt"\n')
    lead = add_lead(store, "a@example.com")
    tick(store, f, T0)
    with store.begin() as conn:
        conn.execute(leads.update().where(leads.c.id == lead).values(stage="mql"))
    tick(store, f, T0 + days(1))
    assert [s[:2] for s in sends(store)] == [("send", "intro")]
    assert (enrollment(store).state, enrollment(store).wake_at) == ("waiting", T0 + days(3))
    tick(store, f, T0 + days(3))
    assert [s[:2] for s in sends(store)] == [("send", "intro"), ("notify", "goal+2")]


def test_a_tick_redone_at_the_same_moment_journals_each_entry_once(store: Engine) -> None:
    """Entries committed, then the process died before stepping them; meanwhile one more lead
    qualified. The redone tick enters that one and steps everyone: one `entered` row each."""
    f = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n')
    for i in range(3):
        add_lead(store, f"l{i}@example.com")
    with writer(store) as conn:
        partial = Tick(Unit(conn), f.flows[0], f, T0, b"secret", "mail.example.co.jp")
        partial.version = partial.ensure_version()
        partial.enter()  # commits the entries and their journal rows; no stepping
    add_lead(store, "late@example.com")
    tick(store, f, T0)
    with store.connect() as conn:
        entered = Counter(r.enrollment_id for r in conn.execute(
            sa.select(journal.c.enrollment_id).where(journal.c.event == "entered")))
    assert len(entered) == 4 and set(entered.values()) == {1}, entered
    assert [s[:2] for s in sends(store)] == [("send", "intro")] * 4


def test_wait_until_a_date_is_not_rewritten_at_every_tick(store: Engine) -> None:
    f = folder('flow t:\n    enter when stage is "lead"\n'
               '    wait until renewal_date - 30 days\n    send intro "dormant/intro.html"\n'
               '\nattributes:\n    renewal_date: date\n')
    add_lead(store, "a@example.com", custom={"renewal_date": "2027-06-01"})
    tick(store, f, T0)
    first = enrollment(store)
    assert first.state == "waiting" and first.waiting_for == {"until": "date"}
    for at in (T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=5)):
        tick(store, f, at)
        assert enrollment(store).revision == first.revision  # looked at, nothing written
    # a known date is the wait's wake time: a day later nothing is written either
    assert first.wake_at == dt.datetime(2027, 5, 2, tzinfo=dt.UTC)
    tick(store, f, T0 + days(1))
    assert enrollment(store).revision == first.revision
    # the CRM moves the date later: when the old wake time passes, the wait is written again
    with store.begin() as conn:
        conn.execute(leads.update().values(custom={"renewal_date": "2027-09-01"}))
    tick(store, f, dt.datetime(2027, 5, 2, 1, tzinfo=dt.UTC))
    again = enrollment(store)
    assert again.revision == first.revision + 1
    assert again.wake_at == dt.datetime(2027, 8, 2, tzinfo=dt.UTC)
    assert sends(store) == []
    # unknown: looked at again daily
    with store.begin() as conn:
        conn.execute(leads.update().values(custom={}))
    late = dt.datetime(2027, 8, 2, 1, tzinfo=dt.UTC)
    tick(store, f, late)
    assert enrollment(store).wake_at == late + days(1) and sends(store) == []


def test_postgresql_ticks_update_by_index_when_the_tables_were_analyzed_empty(
        pg_database: str) -> None:
    """A store whose tables were analyzed while empty (`VACUUM ANALYZE` on a new store,
    gen_store.py's load), then a big first tick: psycopg prepares a statement at its sixth run,
    PostgreSQL keeps the generic plan it makes while the table is still small (a sequential
    scan for "WHERE id = $1"), and every later compare-and-set scanned the rows the tick had
    inserted meanwhile: quadratic. The tick's connection plans each run for the table as it
    is then."""
    engine = connect(pg_database)
    fill = ("INSERT INTO journal (at, flow, enrollment_id, lead_id, event) "
            "SELECT now(), 'f', g, g, 'entered' FROM generate_series(1, {n}) g")

    def plan_after_a_big_tick(conn: sa.Connection) -> str:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.exec_driver_sql("TRUNCATE journal")  # an empty file, analyzed as empty
            admin.exec_driver_sql("ANALYZE journal")
        conn.exec_driver_sql(fill.format(n=20))  # the first batch
        conn.exec_driver_sql("PREPARE cas(bigint) AS UPDATE journal SET step = 'x' WHERE id = $1")
        for i in range(6):
            conn.exec_driver_sql(f"EXECUTE cas({i})")
        conn.exec_driver_sql(fill.format(n=20_000))  # the rest of the tick
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN EXECUTE cas(7)"))
        conn.rollback()
        conn.exec_driver_sql("DEALLOCATE cas")
        conn.commit()
        return plan

    try:
        with engine.connect() as plain:
            untuned = plan_after_a_big_tick(plain)
        with writer(engine) as conn:
            tick = plan_after_a_big_tick(conn)
    finally:
        engine.dispose()
    assert "Seq Scan" in untuned, untuned  # the trap is real on this server
    assert "Index Scan" in tick, tick

"""Two `engine run --once` processes started at the same moment on one PostgreSQL database do
every piece of work once, and none twice.

Two databases are filled with the same demo seed. On the first, two `engine run --once
--no-deliver --at T` processes start together for each day (they share the enrollments through
FOR UPDATE SKIP LOCKED, the outbox through its unique key, the enrollments' updates through
compare-and-set); on the second, one tick runs alone (the reference). After each day both
databases must hold the same outbox, enrollments, journal (as a multiset: a row written by both
processes would count 2), tags and stages, and the two processes' reports must add up to the
single process's report (an entry, a step or an intent attempted by both would count twice).

The processes commit every 50 enrollments (the engine's batch is 500), so that on this small
store each flow's work is many batches that the two processes take turns at.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime.runner import run_once
from tests.engine.runtime.demo_world import (
    SETTINGS,
    demo_store,
    differences,
    folder,
    moments,
    next_day,
    reported,
    start_run,
    state,
)
from tests.pg import PgServer

LEADS = 3000
DAYS = (1, 8)
BATCH = 50
TIMEOUT = 180.0


@pytest.fixture
def two_databases(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    with pg_server.database("two_processes_shared") as shared, \
            pg_server.database("two_processes_alone") as alone:
        yield shared, alone


@pytest.mark.slow
def test_two_processes_on_one_database_do_the_work_once(two_databases: tuple[str, str],
                                                        tmp_path: Path) -> None:
    shared_url, alone_url = two_databases
    shared = demo_store(shared_url, LEADS)
    alone = demo_store(alone_url, LEADS)
    daily = moments(max(DAYS), odd_every=1000)
    split_work = 0
    try:
        for at in (daily[d - 1] for d in DAYS):
            procs = [start_run(at, shared_url, tmp_path, BATCH, stdout=subprocess.PIPE)
                     for _ in range(2)]
            outputs = []
            for proc in procs:
                out, err = proc.communicate(timeout=TIMEOUT)
                assert proc.returncode == 0, err.decode(errors="replace")
                outputs.append(reported(out.decode()))
            single = run_once(alone, folder(), at, SETTINGS, deliver=False)
            want_report = {t.flow: (t.entered, t.advanced, t.exited, t.goals,
                                    sum(t.actions.values())) for t in single.ticks}
            assert set(outputs[0]) == set(outputs[1]) == set(want_report), outputs
            both = {flow: tuple(a + b for a, b in zip(outputs[0][flow], outputs[1][flow],
                                                      strict=True)) for flow in want_report}
            assert both == want_report, f"{at.isoformat()}: {outputs}"
            split_work += sum(1 for flow in want_report
                              if outputs[0][flow][1] and outputs[1][flow][1])
            next_day(shared, at)
            next_day(alone, at)
            want, got = state(alone), state(shared)
            for table in want:
                assert got[table] == want[table], (
                    f"{table} after the tick at {at.isoformat()}: "
                    + differences(want[table], got[table]))
    finally:
        shared.dispose()
        alone.dispose()
    # Not one process doing everything while the other waited: both advanced enrollments of
    # the same flow in the same tick.
    assert split_work > 0


def test_a_second_process_finds_the_work_done(pg_database: str, tmp_path: Path) -> None:
    """The quick version: a run, then another run of the same tick in a second process, which
    must find nothing to do (the enrollments are claimed and advanced, the intents exist)."""
    engine = demo_store(pg_database, 100)
    at = moments(1)[0]
    try:
        first = run_once(engine, folder(), at, SETTINGS, deliver=False)
        before = state(engine)
        proc = start_run(at, pg_database, tmp_path, stdout=subprocess.PIPE)
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err.decode(errors="replace")
        assert state(engine) == before
    finally:
        engine.dispose()
    second = reported(out.decode())
    assert set(second) == {t.flow for t in first.ticks}
    assert all(counts == (0, 0, 0, 0, 0) for counts in second.values()), second
    assert sum(t.entered for t in first.ticks) > 0

"""A tick killed with SIGKILL at any moment, then run again, ends exactly where an uninterrupted
tick ends: no intent, journal row or enrollment missing, none doubled.

Two identical copies of a demo store (3,000 leads on SQLite; on PostgreSQL 1,500 and fewer
kills) go through the same days. On one, each day's tick runs as one uninterrupted `engine run
--once --no-deliver --at T` process (the reference). On the other, the same command is killed
with SIGKILL at a random moment of its tick's database work or right after one of its commits
that wrote something (the process says when that work starts and when it commits; the seed is
printed: rerun with CRASH_SEED=N to replay), restarted and killed again, and finally restarted
until it completes. Both commit every 100 enrollments (the engine's batch is 500) so that a
kill finds many half-done ticks. After every day both stores must hold the same outbox
(intents, statuses, due times, and on SQLite Message-IDs), enrollments (step, state, wake
time), journal (as a multiset), tags and stages. Between days, delivery and the leads'
responses are simulated identically on both (demo_world.next_day).

CRASH_KILLS (default 15 on SQLite, 6 on PostgreSQL) sets how many kills, spread over the days.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.store.db import connect
from tests.engine.runtime.demo_world import (
    demo_store,
    differences,
    moments,
    next_day,
    start_run,
    state,
    stderr_lines,
)
from tests.pg import PgServer

# Everyone enters; the first sends go; the 7-day waits end, branches. PostgreSQL, where the
# two-process test also runs, gets a smaller share of the suite's time.
DAYS = {"sqlite": (1, 2, 8), "postgresql": (1, 8)}
LEADS = {"sqlite": 3000, "postgresql": 1500}
BATCH = 100  # enrollments per transaction in the killed processes (the engine's default: 500)
RUN_TIMEOUT = 120.0


def progress(engine: Engine) -> tuple[int, ...]:
    """How far a tick has come: rows written, revisions made, intents decided by the gate."""
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM journal), "
            "(SELECT coalesce(sum(revision), 0) FROM enrollments), "
            "(SELECT count(*) FROM outbox WHERE status != 'pending'), "
            "(SELECT count(*) FROM settings)")).one())


def finish(proc: subprocess.Popen[bytes]) -> int:
    try:
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")
    return proc.returncode


def timed_run(at: dt.datetime, url: str, cwd: Path) -> tuple[float, int]:
    """An uninterrupted `engine run` (instrumented like the killed ones); returns how long its
    tick took to make its last commit that wrote something, and how many such commits it made
    (a tick also commits batches that only read; once its last write is made, a kill
    interrupts nothing)."""
    proc = start_run(at, url, cwd, BATCH)
    started = last = 0.0
    commits = 0
    for when, line in stderr_lines(proc, RUN_TIMEOUT):
        if line == b"TICK-START":
            started = last = when
        elif line.startswith(b"TICK-COMMIT "):
            last, commits = when, commits + 1
    finish(proc)
    return last - started, commits


def kill_point(rng: random.Random, n: int, span: float, commits: int) -> tuple[str, float, int]:
    """Where the n-th kill of a tick lands: every third at a random moment of the tick's span
    (anywhere: before its first commit, between two, after its last write), the others right
    after a random commit that is not the last of those the tick has left (a half-done tick,
    which a loaded machine's timing alone can miss). The first is one of those: a kill after
    the tick's last write ends the day's kills, since later ones would interrupt nothing."""
    if n % 3 == 2 or commits < 2:
        return "time", rng.uniform(0.0, 1.1 * span), 0
    return "commit", 0.0, rng.randrange(1, commits)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(crashed, reference): two stores with the same demo data."""
    if request.param == "sqlite":
        base = tmp_path / "base.db"
        demo_store(f"sqlite:///{base}", LEADS["sqlite"]).dispose()
        for name in ("crashed.db", "reference.db"):
            shutil.copyfile(base, tmp_path / name)
        yield f"sqlite:///{tmp_path / 'crashed.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with server.database("crash_crashed") as crashed, \
            server.database("crash_reference") as reference:
        for url in (crashed, reference):
            demo_store(url, LEADS["postgresql"]).dispose()
        yield crashed, reference


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_doubles_nothing(
        two_stores: tuple[str, str], tmp_path: Path) -> None:
    crashed_url, reference_url = two_stores
    sqlite = crashed_url.startswith("sqlite")
    seed = int(os.environ.get("CRASH_SEED", random.randrange(2**31)))
    kills_wanted = int(os.environ.get("CRASH_KILLS", "15" if sqlite else "6"))
    print(f"crash test: CRASH_SEED={seed} CRASH_KILLS={kills_wanted}")
    rng = random.Random(seed)
    days = DAYS["sqlite" if sqlite else "postgresql"]
    daily = moments(max(days), odd_every=1000)
    ticks = [daily[d - 1] for d in days]
    kills = completed_early = mid_tick = 0
    crashed, reference = connect(crashed_url), connect(reference_url)
    try:
        for i, at in enumerate(ticks):
            # The reference: one uninterrupted process. How long its tick took to write all it
            # wrote is the span the kills on the other store are aimed at; where it ended, the
            # point after which kills on the other store interrupt nothing.
            span, commits = timed_run(at, reference_url, tmp_path)
            budget = -(-(kills_wanted - kills) // (len(ticks) - i))  # the rest, spread evenly
            before, after_kills, target = progress(crashed), [], progress(reference)
            completed, left = False, commits  # commits that wrote: the uninterrupted run's
            for n in range(budget):
                proc = start_run(at, crashed_url, tmp_path, BATCH)
                lines = stderr_lines(proc, RUN_TIMEOUT)
                started = next((when for when, line in lines if line == b"TICK-START"), None)
                assert started is not None, f"the run ended before its tick: {proc.wait()}"
                how, delay, after = kill_point(rng, n, span, left)
                if how == "commit":  # False: this run had fewer commits left, and it ended
                    running = any(line == b"TICK-COMMIT %d" % after for _, line in lines)
                else:
                    try:
                        proc.wait(timeout=max(0.0, started + delay - time.perf_counter()))
                    except subprocess.TimeoutExpired:
                        pass
                    running = proc.poll() is None
                if running:
                    proc.send_signal(signal.SIGKILL)
                _, unread = proc.communicate()
                left -= after or unread.count(b"TICK-COMMIT ")
                if proc.returncode == 0:
                    completed_early += 1  # it finished first: this tick is done
                    completed = True
                    break
                kills += 1
                after_kills.append(progress(crashed))
                print(f"  {at:%m-%d}: killed " + (
                    f"{delay:.2f} s into a tick that wrote for about {span:.2f} s"
                    if how == "time" else f"after commit {after} of about {left + after}"))
                if after_kills[-1] == target:
                    break  # it had written everything: more kills would interrupt nothing
            if not completed:
                finish(start_run(at, crashed_url, tmp_path, BATCH))
            done = progress(crashed)
            mid_tick += sum(before != p != done for p in after_kills)
            next_day(reference, at)
            next_day(crashed, at)
            # Message-IDs derive from enrollment ids: equal on SQLite, which reuses the ids of a
            # rolled-back insert; a PostgreSQL sequence does not.
            want = state(reference, message_ids=sqlite)
            got = state(crashed, message_ids=sqlite)
            for table in want:
                assert got[table] == want[table], (
                    f"{table} after the tick at {at.isoformat()} (CRASH_SEED={seed}): "
                    + differences(want[table], got[table]))
    finally:
        crashed.dispose()
        reference.dispose()
    print(f"crash test: {kills} kills, {mid_tick} of them in the middle of a tick's writes; "
          f"{completed_early} runs finished before their kill")
    assert mid_tick >= min(3, kills_wanted), "the kills did not interrupt the ticks' writes"
    leads = LEADS["sqlite" if sqlite else "postgresql"]  # the days were not idle
    assert sum(want["outbox"].values()) > leads / 6 and sum(want["journal"].values()) > leads / 2

"""A worker killed (SIGKILL) at each crash point of RELIABILITY.md 6.1, then restarted:
nothing lost, nothing sent twice unless the at-least-once policy says so (T-K1..T-K8)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due, outstanding, reconcile_unknown
from tests.engine.delivery.helpers import TinyBuilder, options, rows, seed, statuses
from tests.engine.delivery.sink import FaultSink

ROOT = Path(__file__).resolve().parents[3]
LEASE = 0.5  # seconds; long enough for a worker to reach its crash point
CLAIM_LEASE = 1.0  # after_claim_commit: the test checks the lease still holds


def _env(crash: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ENGINE_CRASH_AT", None)
    if crash:
        env["ENGINE_CRASH_AT"] = crash
    return env


def worker(*args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.engine.delivery.crash_worker", *args],
                          env=_env(crash), cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def background_worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.engine.delivery.crash_worker", *args],
                            env=_env(None), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def killed(process: subprocess.CompletedProcess[str]) -> bool:
    return process.returncode == -signal.SIGKILL


def restart(store: sa.Engine, sink: FaultSink, lease: float = LEASE,
            **worker_options: object) -> None:
    """What an operator's next run does: after the lease, deliver; settle unknowns with the
    relay's log; deliver what that put back."""
    time.sleep(lease + 0.2)
    settings = Settings(smtp_url=sink.url(pool=2))
    deliver_due(store, settings, build=TinyBuilder(), worker=options(**worker_options))
    reconcile_unknown(store, sink.has)
    deliver_due(store, settings, build=TinyBuilder(), worker=options(**worker_options))


def assert_each_sent_once(store: sa.Engine, sink: FaultSink) -> None:
    state = rows(store)
    assert {r["status"] for r in state.values()} == {"sent"}
    assert outstanding(store) == 0
    copies = sink.copies()
    assert set(copies) == {r["message_id"] for r in state.values()}
    assert set(copies.values()) == {1}


def test_crash_after_enqueue_commit_loses_nothing(sqlite_store: sa.Engine,
                                                  sink: FaultSink) -> None:
    """T-K1."""
    process = worker("enqueue", str(sqlite_store.url), "3", crash="after_enqueue_commit")
    assert killed(process), process.stderr
    assert set(statuses(sqlite_store).values()) == {"pending"}
    assert len(statuses(sqlite_store)) == 3
    restart(sqlite_store, sink)
    assert_each_sent_once(sqlite_store, sink)


@pytest.mark.parametrize("point", ["after_claim_commit", "after_250_before_commit"])
def test_crash_points_on_both_stores(store: sa.Engine, sink: FaultSink, db_url: str,
                                     point: str) -> None:
    """T-K2 and T-K4 on SQLite and PostgreSQL (their claim and reaper SQL differ)."""
    crash_then_restart(store, sink, db_url, point)


@pytest.mark.parametrize("point", ["mid_data", "after_sent_commit"])
def test_crash_points(sqlite_store: sa.Engine, sink: FaultSink, point: str) -> None:
    """T-K3 (mid-DATA) and T-K5 (after the sent commit)."""
    crash_then_restart(sqlite_store, sink, str(sqlite_store.url), point)


def crash_then_restart(store: sa.Engine, sink: FaultSink, db_url: str, point: str) -> None:
    seed(store, [f"u{i}@example.com" for i in range(4)])
    lease = CLAIM_LEASE if point == "after_claim_commit" else LEASE
    process = worker("deliver", db_url, sink.url(pool=1), str(lease), crash=point)
    assert killed(process), process.stderr
    after_kill = statuses(store)
    if point == "after_claim_commit":
        assert set(after_kill.values()) == {"claimed"} and sink.received == []
        quick = deliver_due(store, Settings(smtp_url=sink.url()), build=TinyBuilder(),
                            worker=options())
        assert quick.claimed == 0  # the dead worker's lease still holds
    if point == "mid_data":
        assert "sending" in after_kill.values() and sink.received == []  # partial discarded
    if point == "after_250_before_commit":
        assert "sending" in after_kill.values() and len(sink.received) == 1
    if point == "after_sent_commit":  # results commit in groups: at least the first is in
        sent = [i for i, status in after_kill.items() if status == "sent"]
        assert sent and len(sink.received) >= len(sent)
    restart(store, sink, lease)
    assert_each_sent_once(store, sink)
    if point == "after_claim_commit":
        assert {r["attempts"] for r in rows(store).values()} == {2}  # one per claim


def test_unknown_after_250_is_not_resent_by_default(sqlite_store: sa.Engine,
                                                    sink: FaultSink) -> None:
    """T-K4, default policy: the row becomes unknown, an alert is written, nothing is resent."""
    url = str(sqlite_store.url)
    seed(sqlite_store, ["a@example.com"])
    assert killed(worker("deliver", url, sink.url(), str(LEASE),
                         crash="after_250_before_commit"))
    time.sleep(LEASE + 0.2)
    settings = Settings(smtp_url=sink.url())
    report = deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
    assert report.reaped_to_unknown == 1 and report.alerts
    deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
    assert set(statuses(sqlite_store).values()) == {"unknown"} and len(sink.received) == 1


def test_unknown_after_250_is_resent_once_with_at_least_once(sqlite_store: sa.Engine,
                                                             sink: FaultSink) -> None:
    """T-K4, at-least-once: resent once with the same Message-ID, never a third copy."""
    url = str(sqlite_store.url)
    seed(sqlite_store, ["a@example.com"])
    assert killed(worker("deliver", url, sink.url(), str(LEASE), "at-least-once",
                         crash="after_250_before_commit"))
    time.sleep(LEASE + 0.2)
    settings = Settings(smtp_url=sink.url())
    for _ in range(3):
        deliver_due(sqlite_store, settings, build=TinyBuilder(),
                    worker=options(at_least_once=True))
    [message_id] = [r["message_id"] for r in rows(sqlite_store).values()]
    assert set(statuses(sqlite_store).values()) == {"sent"}
    assert sink.copies() == {message_id: 2}


@pytest.mark.slow
def test_repeated_kills_at_batch_boundaries(sqlite_store: sa.Engine, sink: FaultSink) -> None:
    """T-K6: 60 intents in batches of 10, the worker killed three times at random claims."""
    url = str(sqlite_store.url)
    seed(sqlite_store, [f"u{i}@example.com" for i in range(60)])
    chooser = random.Random(6)
    for _ in range(3):
        process = worker("deliver", url, sink.url(pool=2), str(LEASE),
                         crash=f"after_claim_commit:{chooser.randint(2, 4)}")
        assert killed(process) or outstanding(sqlite_store) == 0
        time.sleep(LEASE + 0.2)
    restart(sqlite_store, sink)
    assert_each_sent_once(sqlite_store, sink)


@pytest.mark.slow
def test_host_restart_mid_campaign(sqlite_store: sa.Engine) -> None:
    """T-K7 / T-K8: SIGTERM mid-send, SIGKILL after a grace period, restart (with other
    settings for T-K8): the campaign is not finished early, and completes exactly once."""
    url = str(sqlite_store.url)
    seed(sqlite_store, [f"u{i}@example.com" for i in range(60)])
    with FaultSink(delay=0.04) as sink:
        process = background_worker("deliver", url, sink.url(pool=2), str(LEASE))
        deadline = time.monotonic() + 30
        while len(sink.received) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert outstanding(sqlite_store) + list(statuses(sqlite_store).values()).count(
            "unknown") > 0  # not finished
        time.sleep(LEASE + 0.2)
        settings = Settings(smtp_url=sink.url(pool=1))  # T-K8: restarted with other settings
        deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
        reconcile_unknown(sqlite_store, sink.has)
        deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
        assert_each_sent_once(sqlite_store, sink)

"""The ledger's state machine on SQLite and PostgreSQL: claims, compare-and-set, reaper,
reconciliation, completion (RELIABILITY.md 2.2, 4.3; T-W2)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from engine.delivery import ledger, outstanding, reconcile_unknown
from engine.store.db import write_transaction
from engine.store.schema import outbox
from tests.engine.delivery.helpers import rows, seed, statuses, utcnow

LEASE = timedelta(seconds=60)


def claim(engine: sa.Engine, me: str, n: int = 100) -> list[int]:
    with write_transaction(engine) as conn:
        return [r["id"] for r in ledger.claim(conn, me, n, utcnow(), LEASE)]


def test_claim_takes_due_delivery_rows_once_and_counts_attempts(store: sa.Engine) -> None:
    ids = seed(store, [f"u{i}@example.com" for i in range(5)])
    later = seed(store, ["later@example.com"], at=utcnow() + timedelta(hours=1))
    handoff = seed(store, ["h@example.com"], action="handoff")
    first = claim(store, "w1", 3)
    second = claim(store, "w2")
    assert sorted(first + second) == ids and not set(first) & set(second)
    assert claim(store, "w3") == []
    state = rows(store)
    assert {state[i]["claimed_by"] for i in first} == {"w1"}
    assert all(state[i]["attempts"] == 1 and state[i]["status"] == "claimed" for i in ids)
    assert state[later[0]]["status"] == "pending"  # not due yet
    assert state[handoff[0]]["status"] == "pending"  # not delivery's: left alone
    assert state[ids[0]]["lease_until"] > utcnow() + timedelta(seconds=50)  # database time


def test_every_arrow_is_a_compare_and_set(store: sa.Engine) -> None:
    [row_id] = seed(store, ["a@example.com"])
    claim(store, "w1")
    with write_transaction(store) as conn:
        assert not ledger.move(conn, row_id, "claimed", "w2", status="sending")  # not its claim
        assert not ledger.move(conn, row_id, "pending", None, status="sending")  # wrong state
        assert ledger.move(conn, row_id, "claimed", "w1", status="sending")
        assert not ledger.move(conn, row_id, "claimed", "w1", status="sending")  # once only


def test_reaper_returns_unsent_claims_and_marks_interrupted_sends_unknown(
        store: sa.Engine) -> None:
    ids = seed(store, ["a@example.com", "b@example.com", "c@example.com"])
    claim(store, "dead-worker")
    past = utcnow() - timedelta(minutes=5)
    with write_transaction(store) as conn:
        ledger.move(conn, ids[1], "claimed", "dead-worker", status="sending")
        conn.execute(outbox.update().where(outbox.c.id.in_(ids[:2])).values(lease_until=past))
        back, unknown = ledger.reap(conn)
    assert back == 1 and [i for i, _ in unknown] == [ids[1]]
    assert statuses(store) == {ids[0]: "pending", ids[1]: "unknown", ids[2]: "claimed"}
    assert claim(store, "w2") == [ids[0]]
    assert rows(store)[ids[0]]["attempts"] == 2  # one per claim (T-K2)


def test_unknown_is_resent_at_most_once_under_at_least_once(store: sa.Engine) -> None:
    [row_id] = seed(store, ["a@example.com"])
    with write_transaction(store) as conn:
        conn.execute(outbox.update().values(status="unknown"))
        now = ledger.db_now(conn)
        assert ledger.requeue_unknown(conn, now, now) == 1
        conn.execute(outbox.update().values(status="unknown"))
        assert ledger.requeue_unknown(conn, now, now) == 0
    assert statuses(store) == {row_id: "unknown"}


def test_reconciliation_by_message_id(store: sa.Engine) -> None:
    ids = seed(store, ["a@example.com", "b@example.com", "c@example.com"])
    with write_transaction(store) as conn:
        conn.execute(outbox.update().values(status="unknown"))
    state = rows(store)
    answers = {state[ids[0]]["message_id"]: True, state[ids[1]]["message_id"]: False}
    counts = reconcile_unknown(store, answers.get)
    assert counts == {"sent": 1, "pending": 1, "unknown": 1}
    assert statuses(store) == {ids[0]: "sent", ids[1]: "pending", ids[2]: "unknown"}


def test_outstanding_counts_what_is_not_settled(store: sa.Engine) -> None:
    ids = seed(store, ["a@example.com", "b@example.com"])
    seed(store, ["h@example.com"], action="handoff")
    assert outstanding(store) == 2
    with write_transaction(store) as conn:
        conn.execute(outbox.update().where(outbox.c.id == ids[0]).values(status="sent"))
        conn.execute(outbox.update().where(outbox.c.id == ids[1]).values(status="unknown"))
    assert outstanding(store) == 0  # unknown is settled as far as completion goes (counted)


def test_concurrent_claimers_never_both_win_a_row(store: sa.Engine) -> None:
    """T-W2: four workers on their own connections claim small batches at once."""
    ids = seed(store, [f"u{i}@example.com" for i in range(400)])
    won: dict[str, list[int]] = {f"w{i}": [] for i in range(4)}
    start = threading.Barrier(len(won))
    errors: list[BaseException] = []

    def work(me: str) -> None:
        try:
            start.wait()
            while batch := claim(store, me, 7):
                won[me].extend(batch)
                time.sleep(0.001)  # let the others in between claims
        except BaseException as error:  # reported below: a thread must not swallow it
            errors.append(error)

    threads = [threading.Thread(target=work, args=(me,)) for me in won]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    everything = [i for batch in won.values() for i in batch]
    assert sorted(everything) == ids  # each row once, none lost
    assert sum(1 for batch in won.values() if batch) >= 2  # they really did compete
    owners = {i: r["claimed_by"] for i, r in rows(store).items()}
    assert all(owners[i] == me for me, batch in won.items() for i in batch)

"""The ledger's hot path on SQLite and PostgreSQL: statements compiled once and run through the
driver's executemany write exactly what SQLAlchemy Core writes, stay compare-and-set per row,
and report the rows they moved; the ledger thread's group commit, lingering and recovery after
a failed transaction; building a batch never holds up the connections."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due, ledger
from engine.delivery.committer import Committer
from engine.store.db import write_transaction
from engine.store.emails import email_hash
from engine.store.prepared import Prepared
from engine.store.schema import outbox, suppressions
from tests.engine.delivery.helpers import TinyBuilder, TinyBuilt, options, rows, seed, utcnow
from tests.engine.delivery.sink import FaultSink

LEASE = timedelta(seconds=60)
HOSTILE = {"links": ["https://example.co.jp/a?q=1&r='x'", "https://例え.jp/パス"],
           "note": "quote ' double \" backslash \\ emoji 🎉 '); DROP TABLE outbox; --"}


def claim_all(engine: sa.Engine, me: str) -> list[int]:
    with write_transaction(engine) as conn:
        return [r["id"] for r in ledger.claim(conn, me, 100, utcnow(), LEASE)]


def test_hot_compare_and_set_writes_what_core_writes(store: sa.Engine) -> None:
    ids = seed(store, [f"u{i}@example.com" for i in range(4)])
    claim_all(store, "w1")
    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    with write_transaction(store) as conn:
        ledger.move(conn, ids[3], "claimed", "w1", status="sending")  # no longer "claimed"
        changes = [{"id": i, "payload": {**HOSTILE, "n": n}} for n, i in enumerate(ids)]
        moved = ledger.move_many(conn, "claimed", "w1", changes, ("payload",),
                                 {"status": "sending", "lease_until": at + LEASE,
                                  "updated_at": at})
    assert moved == set(ids[:3])  # the row in another state did not move
    state = rows(store)
    for n, row_id in enumerate(ids[:3]):
        row = state[row_id]
        assert row["status"] == "sending" and row["payload"] == {**HOSTILE, "n": n}
        assert row["lease_until"] == at + LEASE and row["updated_at"] == at  # aware, exact
    assert state[ids[3]]["payload"] == {"sender_owner": False, "sender_address": None}


def test_the_hot_arrows_are_compare_and_set_per_row(store: sa.Engine) -> None:
    mine = seed(store, ["a@example.com", "b@example.com"])
    claim_all(store, "w1")
    theirs = seed(store, ["c@example.com"])
    claim_all(store, "w2")
    changes = [{"id": i, "payload": {}} for i in [*mine, *theirs]]

    def common() -> dict[str, Any]:
        at = utcnow()
        time.sleep(0.001)  # each call its own updated_at, as the worker's clock gives
        return {"status": "sending", "lease_until": at + LEASE, "updated_at": at}

    with write_transaction(store) as conn:
        assert ledger.move_many(conn, "claimed", "w1", changes, ("payload",), common()) \
            == set(mine)
        assert ledger.move_many(conn, "claimed", "w1", changes, ("payload",), common()) \
            == set()  # once only
        assert ledger.move_many(conn, "claimed", "w2", changes, ("payload",), common()) \
            == set(theirs)
    assert {r["claimed_by"] for r in rows(store).values()} == {"w1", "w2"}


def test_executemany_reports_every_row_it_moved(store: sa.Engine) -> None:
    """Both drivers count the rows of the whole executemany, so a batch that moved completely
    needs no read-back (and one that did not is read back: tested above)."""
    ids = seed(store, [f"n{i}@example.com" for i in range(7)])
    claim_all(store, "w1")
    statement = Prepared(outbox.update()
                         .where(outbox.c.id == sa.bindparam("row"),
                                outbox.c.status == "claimed")
                         .values(reason=sa.bindparam("why")), {"row": "id"})
    with write_transaction(store) as conn:
        assert statement.executemany(conn, [{"id": i, "why": f"r{i}"} for i in ids]) == 7
        assert statement.executemany(conn, [{"id": ids[0], "why": "again"}]) == 1
        assert statement.executemany(conn, [{"id": -1, "why": "none"}]) == 0
        assert statement.executemany(conn, []) == 0
    assert [rows(store)[i]["reason"] for i in ids] == ["again", *(f"r{i}" for i in ids[1:])]


def test_rows_sharing_values_are_each_written_as_their_own(store: sa.Engine) -> None:
    """A batch whose rows share objects (one instant for every row, one payload for two) and
    whose rows alternate between equal values of distinct objects and None: every row holds
    its own value (the packer reuses a processed value only for the very same object)."""
    ids = seed(store, [f"s{i}@example.com" for i in range(6)])
    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    shared = {"k": "shared", "note": HOSTILE["note"]}
    whens = [at, at, None, at + LEASE, datetime(2026, 11, 23, 18, 30, 15, 123456,
                                                   tzinfo=timezone(timedelta(hours=9))), at]
    payloads = [shared, shared, {"k": 2}, {"k": 2}, {}, shared]
    statement = Prepared(outbox.update().where(outbox.c.id == sa.bindparam("row"))
                         .values(lease_until=sa.bindparam("when"),
                                 payload=sa.bindparam("doc"), updated_at=sa.bindparam("at")),
                         {"row": "id"})
    with write_transaction(store) as conn:
        assert statement.executemany(conn, [
            {"id": i, "when": w, "doc": d, "at": at}
            for i, w, d in zip(ids, whens, payloads, strict=True)]) == 6
    state = rows(store)
    assert [state[i]["lease_until"] for i in ids] == [at, at, None, at + LEASE, at, at]
    assert [state[i]["payload"] for i in ids] == payloads
    assert all(state[i]["updated_at"] == at for i in ids)


def test_a_missing_value_is_an_error_not_a_null(store: sa.Engine) -> None:
    [row_id] = seed(store, ["a@example.com"])
    statement = Prepared(outbox.update().where(outbox.c.id == sa.bindparam("row"))
                         .values(reason=sa.bindparam("why")))
    with write_transaction(store) as conn, pytest.raises(KeyError):
        statement.executemany(conn, [{"row": row_id}])


def test_driver_errors_are_sqlalchemys_and_fail_the_whole_batch(store: sa.Engine) -> None:
    ids = seed(store, ["a@example.com", "b@example.com", "c@example.com"])
    taken = rows(store)[ids[0]]["message_id"]
    statement = Prepared(outbox.update().where(outbox.c.id == sa.bindparam("row"))
                         .values(message_id=sa.bindparam("mid")))
    with pytest.raises(sa.exc.IntegrityError):  # message_id is unique
        with write_transaction(store) as conn:
            statement.executemany(conn, [{"row": ids[1], "mid": "<fresh@x>"},
                                         {"row": ids[2], "mid": taken}])
    assert rows(store)[ids[1]]["message_id"] != "<fresh@x>"  # rolled back with the rest


@pytest.mark.parametrize("size", [1, 3, 8, 9, 513, 700])
def test_suppressions_are_found_among_any_number_of_hashes(store: sa.Engine, size: int) -> None:
    hashes = [email_hash(f"x{i}@example.com") for i in range(size)]
    blocked = set(hashes[::4]) | {hashes[-1]}
    with store.begin() as conn:
        conn.execute(suppressions.insert(), [
            {"email_hash": h, "reason": reason, "created_at": utcnow()}
            for h in blocked for reason in ("unsubscribe", "bounce")])
    with store.connect() as conn:
        assert ledger.suppressed_among(conn, hashes) == blocked
        assert ledger.suppressed_among(conn, []) == set()


# ---------------------------------------------------------------- the ledger thread


def note(conn: sa.Connection, row_id: int, reason: str) -> int:
    return int(conn.execute(outbox.update().where(outbox.c.id == row_id)
                            .values(reason=reason)).rowcount)


def fail(conn: sa.Connection) -> None:
    conn.exec_driver_sql("SELECT * FROM no_such_table")


def test_a_failed_transaction_fails_its_group_and_the_next_one_starts_afresh(
        store: sa.Engine) -> None:
    [row_id] = seed(store, ["a@example.com"])
    committer = Committer(store, linger=5.0)
    try:
        first = committer.submit(note, row_id, "lost with its group", urgent=False)
        broken = committer.submit(fail)
        with pytest.raises(sa.exc.SQLAlchemyError):
            broken.result(timeout=10)
        with pytest.raises(sa.exc.SQLAlchemyError):
            first.result(timeout=10)  # same transaction: rolled back with it
        assert rows(store)[row_id]["reason"] is None
        assert committer.submit(note, row_id, "kept").result(timeout=10) == 1
    finally:
        committer.close()
    assert rows(store)[row_id]["reason"] == "kept"


def test_a_step_nobody_waits_for_lingers_for_company_but_no_longer(
        sqlite_store: sa.Engine) -> None:
    [row_id] = seed(sqlite_store, ["a@example.com"])
    committer = Committer(sqlite_store)
    try:
        lazy = committer.submit(note, row_id, "lazy", urgent=False, linger=0.3)
        time.sleep(0.1)
        assert not lazy.done()  # waiting for company
        assert lazy.result(timeout=5) == 1  # then committed on its own
        groups = committer.groups
        lazy = committer.submit(note, row_id, "lazy", urgent=False, linger=30)
        started = time.monotonic()
        assert committer.submit(note, row_id, "urgent").result(timeout=5) == 1
        assert lazy.result(timeout=1) == 1 and time.monotonic() - started < 5
        assert committer.groups == groups + 1  # the urgent step took it along
    finally:
        committer.close()


# ---------------------------------------------------------------- building


class SlowBuilder(TinyBuilder):
    """Each build takes 5 ms of the event loop's thread (as rendering does), and notes how
    many messages the relay had received when the last one was built."""

    def __init__(self, sink: FaultSink) -> None:
        super().__init__()
        self.sink = sink
        self.received_at_last_build = -1

    def __call__(self, row: Any, lead: Any) -> TinyBuilt:
        time.sleep(0.005)
        self.received_at_last_build = len(self.sink.received)
        return super().__call__(row, lead)


def test_building_a_batch_does_not_hold_up_the_connections(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    """A batch built in one go (half a second here) would leave the connections idle until
    the last message is built; the loop gets a turn between builds, so sending starts at
    once."""
    seed(sqlite_store, [f"b{i}@example.com" for i in range(100)])
    build = SlowBuilder(sink)
    report = deliver_due(sqlite_store, Settings(smtp_url=sink.url(pool=2)), build=build,
                         worker=options(batch=100))
    assert report["sent"] == 100 and len(sink.received) == 100
    assert build.received_at_last_build >= 3


# ---------------------------------------------------------------- the final dot


def test_the_dot_waits_for_the_loop_only_when_the_relay_spoke_during_the_body() -> None:
    """Before the final dot the connection's socket is checked without a turn of the event
    loop: nothing to read (the normal case) sends the dot at once; a reply, an EOF or a reset
    already there makes the loop read it first, so a hang-up is known to be before the dot."""
    from engine.delivery.smtp import _readable

    async def scenario(act: str) -> tuple[bool, bool]:
        go = asyncio.Event()

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await go.wait()
            if act == "reply":
                writer.write(b"552 5.3.4 message too big\r\n")
                await writer.drain()
                await reader.read()
            elif act == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()

        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # what the relay sends stays on the socket
        writer.write(b"x" * 10_000)  # the body
        await asyncio.sleep(0.05)
        before = _readable(writer.transport)
        go.set()
        await asyncio.sleep(0.05)
        after = _readable(writer.transport)
        writer.close()
        server.close()
        await server.wait_closed()
        return before, after

    for act in ("reply", "close", "reset"):
        assert asyncio.run(scenario(act)) == (False, True), act

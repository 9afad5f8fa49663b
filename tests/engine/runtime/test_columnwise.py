"""The tick's writes as one statement a batch on PostgreSQL (engine.store.prepared.Columnwise)
write exactly what the row-wise statements write, on both databases: values through the
column types (instants, JSON documents and JSON null against SQL NULL, hostile text), ON
CONFLICT DO NOTHING within one batch and against rows already there, and the compare-and-set
moving only the rows whose revision is the one read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from engine.runtime.tick import INTENT_INSERT, JOURNAL_INSERT, compare_and_set
from engine.store.schema import enrollments, journal, leads, outbox

T = dt.datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=dt.UTC)
HOSTILE = "quote ' double \" backslash \\ 絵文字 🎉 '); DROP TABLE journal; --"


def lead_and_enrollments(conn: sa.Connection, n: int) -> tuple[int, list[int]]:
    lead = conn.execute(leads.insert().values(email="c@example.com", created_at=T,
                                              updated_at=T).returning(leads.c.id)).scalar_one()
    ids = [conn.execute(enrollments.insert().values(
        flow=f"f{i}", version=1, lead_id=lead, step="intro", state="waiting", entered_at=T,
        updated_at=T, counters={}).returning(enrollments.c.id)).scalar_one() for i in range(n)]
    return lead, ids


def test_journal_rows_are_written_as_given(store: sa.Engine) -> None:
    with store.begin() as conn:
        lead, [enrollment] = lead_and_enrollments(conn, 1)
        tokyo = T.astimezone(dt.timezone(dt.timedelta(hours=9)))
        rows: list[dict[str, Any]] = [
            {"at": at, "flow": "f0", "enrollment_id": enrollment, "lead_id": lead, "step": step,
             "event": event, "details": details}
            for at, step, event, details in [
                (T, "intro", "send", {"template": "a.html", "note": HOSTILE}),
                (tokyo, None, "entered", None),  # an instant in another zone; SQL NULL
                (T, HOSTILE, "branch", {"result": True, "values": [1, None, "x"]}),
            ]]
        assert JOURNAL_INSERT.executemany(conn, rows) == 3
        got = conn.execute(sa.select(journal.c.at, journal.c.step, journal.c.event,
                                     journal.c.details).order_by(journal.c.id)).all()
    assert [tuple(r) for r in got] == [
        (T, "intro", "send", {"template": "a.html", "note": HOSTILE}),
        (T, None, "entered", None),
        (T, HOSTILE, "branch", {"result": True, "values": [1, None, "x"]})]


def test_intents_skip_a_key_already_there_and_a_key_twice_in_one_batch(
        store: sa.Engine) -> None:
    with store.begin() as conn:
        lead, [enrollment] = lead_and_enrollments(conn, 1)

        def intent(occurrence: str, template: str) -> dict[str, Any]:
            return {"flow": "f0", "enrollment_id": enrollment, "step": "intro",
                    "occurrence": occurrence, "lead_id": lead, "flow_version": 1,
                    "action": "send", "template": template,
                    "payload": {"priority": 2, "sender_address": None},
                    "message_id": f"<{occurrence}.{template}@example.com>",
                    "status": "pending", "attempts": 0, "next_attempt_at": T,
                    "created_at": T, "updated_at": T}

        assert INTENT_INSERT.executemany(conn, [intent("1", "a"), intent("2", "b")]) \
            == 2
        # "1" exists already; "3" comes twice in this batch: the first one is kept
        assert INTENT_INSERT.executemany(
            conn, [intent("1", "again"), intent("3", "c"), intent("3", "dup")]) == 1
        got = conn.execute(sa.select(outbox.c.occurrence, outbox.c.template, outbox.c.payload,
                                     outbox.c.next_attempt_at)
                           .order_by(outbox.c.occurrence)).all()
    assert [(r.occurrence, r.template) for r in got] == [("1", "a"), ("2", "b"), ("3", "c")]
    assert all(r.payload == {"priority": 2, "sender_address": None} for r in got)
    assert all(r.next_attempt_at == T for r in got)


def test_compare_and_set_moves_only_rows_at_the_revision_read(store: sa.Engine) -> None:
    with store.begin() as conn:
        _, ids = lead_and_enrollments(conn, 4)
        conn.execute(enrollments.update().where(enrollments.c.id == ids[2])
                     .values(revision=5))  # moved by someone else since it was read
        later = T + dt.timedelta(days=7)
        columns = ("counters", "revision", "state", "step", "updated_at", "wake_at",
                   "waiting_for")
        changes = [{"_id": i, "_revision": 0, "revision": 1, "updated_at": T,
                    "step": f"intro+{n}", "state": "waiting", "wake_at": wake,
                    "waiting_for": waiting, "counters": counters}
                   for n, (i, wake, waiting, counters) in enumerate([
                       (ids[0], later, {"until": "event"}, {"intro": 1}),
                       (ids[1], None, None, {}),  # SQL NULL, not JSON null
                       (ids[2], later, None, {"lost": 1}),
                       (ids[3], T, {"until": "date"}, {"note": HOSTILE})])]
        assert compare_and_set(columns).executemany(conn, changes) == 3
        got = {r.id: r for r in conn.execute(sa.select(enrollments)).all()}
        null_waits = conn.execute(sa.select(sa.func.count()).select_from(enrollments)
                                  .where(enrollments.c.waiting_for.is_(None))).scalar_one()
    assert [got[i].revision for i in ids] == [1, 1, 5, 1]
    assert [got[i].step for i in ids] == ["intro+0", "intro+1", "intro", "intro+3"]
    assert [got[i].wake_at for i in ids] == [later, None, None, T]
    assert [got[i].waiting_for for i in ids] == [{"until": "event"}, None, None,
                                                 {"until": "date"}]
    assert [got[i].counters for i in ids] == [{"intro": 1}, {}, {}, {"note": HOSTILE}]
    assert null_waits == 2  # ids[1] written as SQL NULL, ids[2] never had one


def test_a_column_that_is_null_in_every_row(store: sa.Engine) -> None:
    """A batch where a column has no value at all (every wait over: no wake time, nothing
    waited for) still writes SQL NULL, typed by the column."""
    with store.begin() as conn:
        _, ids = lead_and_enrollments(conn, 3)
        columns = ("counters", "revision", "state", "step", "updated_at", "wake_at",
                   "waiting_for")
        assert compare_and_set(columns).executemany(conn, [
            {"_id": i, "_revision": 0, "revision": 1, "updated_at": T, "step": None,
             "state": "active", "wake_at": None, "waiting_for": None, "counters": {}}
            for i in ids]) == 3
        got = conn.execute(sa.select(enrollments.c.step, enrollments.c.wake_at,
                                     enrollments.c.waiting_for, enrollments.c.revision)).all()
    assert [tuple(r) for r in got] == [(None, None, None, 1)] * 3

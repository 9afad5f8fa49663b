"""The delivery ledger: the outbox table's state machine, one compare-and-set per arrow.

    pending/deferred --claim--> claimed --pre-DATA check--> sending --2xx--> sent
                                  |  \\--> suppressed | deferred | failed  |--> deferred | failed
                                  +--lease expired--> pending              +--> unknown
                                                                (reply lost, or lease expired)

Every function runs inside the caller's transaction and every UPDATE names the status it expects
(and, for a claimed row, the worker holding it), so two workers, a reaper and a late reply can
never both move a row (invariant I2). Claims take ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on
SQLite the caller holds ``BEGIN IMMEDIATE`` (engine.store.db.write_transaction) and the CAS does
the rest. Leases are on database time (:func:`db_now`), never a worker's clock, so a worker with
a skewed clock can neither steal a live claim nor keep a dead one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.delivery.gate import RowView
from engine.store.emails import email_hash
from engine.store.prepared import Prepared
from engine.store.schema import audit, outbox, suppressions

ACTIONS = ("send", "notify")  # other actions (handoff...) are not delivery's
OUTSTANDING = ("pending", "claimed", "sending", "deferred")
UNKNOWN_RESENDS = "unknown_resends"  # payload key: resends made under the at-least-once policy


def db_now(conn: sa.Connection) -> datetime:
    """The database's clock, as an aware UTC datetime."""
    if conn.dialect.name == "postgresql":
        value = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    text = conn.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)


def claim(conn: sa.Connection, me: str, limit: int, due: datetime,
          lease: timedelta) -> list[RowView]:
    """Claim up to ``limit`` due rows for worker ``me``; returns them (attempts incremented).
    Retries (``deferred``) first, then ``pending``, each oldest first: one index range scan per
    status on ``(status, next_attempt_at)``, where ``status IN (...)`` would sort every due row
    on every claim."""
    now = db_now(conn)
    values = {"status": "claimed", "claimed_by": me, "lease_until": now + lease,
              "attempts": outbox.c.attempts + 1, "updated_at": now}
    rows: list[RowView] = []
    for status in ("deferred", "pending"):
        if len(rows) >= limit:
            break
        pick = (sa.select(outbox.c.id)
                .where(outbox.c.status == status, outbox.c.next_attempt_at <= due,
                       outbox.c.action.in_(ACTIONS))
                .order_by(outbox.c.next_attempt_at).limit(limit - len(rows)))
        if conn.dialect.name == "postgresql":
            chosen = pick.with_for_update(skip_locked=True).cte("chosen")
            stmt = (outbox.update().where(outbox.c.id == chosen.c.id)
                    .where(outbox.c.status == status).values(**values))
        else:
            stmt = (outbox.update().where(outbox.c.id.in_(pick.scalar_subquery()))
                    .where(outbox.c.status == status).values(**values))
        result = conn.execute(stmt.returning(*outbox.c))
        keys = list(result.keys())  # once per claim: a row's own mapping costs more
        rows += [RowView(zip(keys, r, strict=True)) for r in result]
    rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
    return rows


def move(conn: sa.Connection, row_id: int, expected: str, me: str | None,
         **values: Any) -> bool:
    """One compare-and-set arrow: ``row_id`` from ``expected`` (held by ``me``) to ``values``."""
    stmt = outbox.update().where(outbox.c.id == row_id, outbox.c.status == expected)
    if me is not None:
        stmt = stmt.where(outbox.c.claimed_by == me)
    return conn.execute(stmt.values(**values)).rowcount == 1


def give_back(conn: sa.Connection, row_id: int, me: str, status: str, reason: str,
              next_attempt_at: datetime | None, at: datetime, expected: str = "claimed") -> bool:
    """Return a row unsent, without counting the claim as an attempt (gate deferrals, a stopped
    run). ``expected`` may be ``sending`` only for a row this worker marked and never tried."""
    values: dict[str, Any] = {"status": status, "reason": reason, "lease_until": None,
                              "attempts": outbox.c.attempts - 1, "updated_at": at}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    return move(conn, row_id, expected, me, **values)


@functools.cache
def _compare_and_set(columns: tuple[str, ...]) -> Prepared:
    """``UPDATE outbox SET <columns> WHERE id = :id AND status = :expected AND claimed_by =
    :me``, compiled once (the hot arrows: ``sending``, ``sent``)."""
    stmt = (outbox.update()
            .where(outbox.c.id == sa.bindparam("_id"),
                   outbox.c.status == sa.bindparam("_expected"),
                   outbox.c.claimed_by == sa.bindparam("_me"))
            .values({c: sa.bindparam(f"_{c}") for c in columns}))
    return Prepared(stmt, {"_id": "id", "_expected": "expected", "_me": "me",
                           **{f"_{c}": c for c in columns}})


def move_many(conn: sa.Connection, expected: str, me: str, changes: Sequence[Mapping[str, Any]],
              columns: Sequence[str], common: Mapping[str, Any] | None = None) -> set[int]:
    """The same arrow for many rows in one statement (executemany): ``changes`` holds ``id``
    and the ``columns`` to set for each row, ``common`` the columns set to the same value for
    every row. Still a compare-and-set per row; returns the ids that moved. When the count says
    some did not, the rows are read back: a row moved if it now holds what was written,
    ``updated_at`` included, so callers give each call its own ``updated_at`` (the worker's
    clock never repeats an instant)."""
    if not changes:
        return set()
    common = dict(common or {})
    statement = _compare_and_set(tuple(columns) + tuple(sorted(common)))
    moved_count = statement.executemany(conn, changes, expected=expected, me=me, **common)
    if moved_count == len(changes):
        return {int(c["id"]) for c in changes}  # every row moved: nothing to read back
    wanted = {c["id"]: {**common, **c} for c in changes}
    checked = [k for k in ("status", "lease_until", "updated_at") if k in columns or k in common]
    moved: set[int] = set()
    for row in conn.execute(sa.select(outbox.c.id, *(outbox.c[k] for k in checked))
                            .where(outbox.c.id.in_(list(wanted)), outbox.c.claimed_by == me)):
        change = wanted[int(row.id)]
        if all(row._mapping[k] == change[k] for k in checked):
            moved.add(int(row.id))
    return moved


@functools.cache
def _suppressed_among(size: int) -> Prepared:
    return Prepared(sa.select(suppressions.c.email_hash).distinct()
                    .where(suppressions.c.email_hash.in_(
                        [sa.bindparam(f"h{i}") for i in range(size)])))


def suppressed_among(conn: sa.Connection, hashes: Sequence[str]) -> set[str]:
    """Which of these email hashes are suppressed (any reason, any scope): the pre-DATA check,
    one compiled statement per power-of-two size (the list is padded by repeating a hash)."""
    found: set[str] = set()
    for start in range(0, len(hashes), 512):
        part = list(hashes[start:start + 512])
        size = 1 << (len(part) - 1).bit_length()
        part += [part[0]] * (size - len(part))
        found.update(row[0] for row in _suppressed_among(size).fetchall(
            conn, **{f"h{i}": h for i, h in enumerate(part)}))
    return found


def finish_sent(conn: sa.Connection, row_id: int, expected: str, me: str,
                values: Mapping[str, Any]) -> bool:
    """Record a 2xx. If the lease ran out meanwhile and a reaper made the row ``unknown``, the
    truth is known now: still ours, so record it as sent (no one resends an unknown row unasked)."""
    if move(conn, row_id, expected, me, **values):
        return True
    return expected == "sending" and move(conn, row_id, "unknown", me, **values)


def reap(conn: sa.Connection) -> tuple[int, list[tuple[int, str | None]]]:
    """Expired leases: ``claimed`` rows back to ``pending`` (nothing was sent), ``sending`` rows
    to ``unknown`` (something may have been). Returns (count to pending, unknown ids)."""
    now = db_now(conn)
    expired = outbox.c.lease_until < now
    back = conn.execute(
        outbox.update().where(outbox.c.status == "claimed", expired)
        .values(status="pending", lease_until=None, updated_at=now,
                reason="lease expired before sending: the worker stopped; claimable again")
    ).rowcount
    unknown = conn.execute(
        outbox.update().where(outbox.c.status == "sending", expired)
        .values(status="unknown", lease_until=None, updated_at=now,
                reason="lease expired while sending: the relay may or may not have the message; "
                       "reconcile by Message-ID")
        .returning(outbox.c.id, outbox.c.message_id)
    ).all()
    return back, [(int(r.id), r.message_id) for r in unknown]


def requeue_unknown(conn: sa.Connection, next_attempt_at: datetime, at: datetime) -> int:
    """At-least-once policy: every ``unknown`` row not resent before goes back to ``pending``
    once, with the same Message-ID (the payload counts the resend, so never twice)."""
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.payload)
                        .where(outbox.c.status == "unknown",
                               outbox.c.action.in_(ACTIONS))).all()
    moved = 0
    for row in rows:
        payload = dict(row.payload or {})
        if payload.get(UNKNOWN_RESENDS):
            continue
        payload[UNKNOWN_RESENDS] = 1
        moved += move(conn, int(row.id), "unknown", None, status="pending", payload=payload,
                      next_attempt_at=next_attempt_at, updated_at=at,
                      reason="outcome unknown: resent once (at-least-once policy)")
    return moved


def reconcile_unknown(conn: sa.Connection, delivered: Callable[[str], bool | None],
                      next_attempt_at: datetime, at: datetime,
                      sent_at: datetime | None = None) -> dict[str, int]:
    """Settle ``unknown`` rows with the relay's own record: ``delivered(message_id)`` True (the
    relay has it) -> sent (at ``sent_at``, default ``at``); False (it never got it) -> pending,
    to be sent with the same Message-ID; None (cannot tell) -> left unknown."""
    counts = {"sent": 0, "pending": 0, "unknown": 0}
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.message_id)
                        .where(outbox.c.status == "unknown")).all()
    for row in rows:
        found = delivered(row.message_id) if row.message_id else None
        if found is True:
            counts["sent"] += move(conn, int(row.id), "unknown", None, status="sent",
                                   sent_at=sent_at or at, updated_at=at,
                                   reason="reconciled: the relay has this Message-ID")
        elif found is False:
            counts["pending"] += move(conn, int(row.id), "unknown", None, status="pending",
                                      next_attempt_at=next_attempt_at, updated_at=at,
                                      reason="reconciled: the relay never received it; resend")
        else:
            counts["unknown"] += 1
    return counts


def add_suppression(conn: sa.Connection, address: str, reason: str, source: str, note: str,
                    at: datetime) -> None:
    """Suppress an address (idempotent: the same address, scope and reason is stored once)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(suppressions).values(
        email_hash=email_hash(address), reason=reason, scope="global", source=source,
        note=note[:500], created_at=at).on_conflict_do_nothing())


def add_alert(conn: sa.Connection, kind: str, subject: str | None, details: dict[str, Any],
              at: datetime) -> None:
    conn.execute(audit.insert().values(at=at, actor="engine", action=f"delivery.{kind}",
                                       subject=subject, details=details))


def outstanding(conn: sa.Connection, flows: Sequence[str] | None = None) -> int:
    """Rows not yet settled (pending, claimed, sending, deferred). A campaign is finished only
    when this is zero (invariant I6); an empty claim batch proves nothing."""
    stmt = (sa.select(sa.func.count()).select_from(outbox)
            .where(outbox.c.status.in_(OUTSTANDING), outbox.c.action.in_(ACTIONS)))
    if flows is not None:
        stmt = stmt.where(outbox.c.flow.in_(list(flows)))
    return int(conn.execute(stmt).scalar_one())

"""Writing demo data into the lead store through SQLAlchemy Core, in one transaction.

A store that already holds leads or events is never topped up: :func:`fill` raises
:class:`StoreNotEmpty` unless ``reset=True``, which first empties every table of the store (the
schema and its revision stay). Either the whole demo data set goes in, or nothing does.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.demo import EVENT_FIELDS, LEAD_FIELDS, generate
from engine.store import schema as S
from engine.store.db import write_transaction
from engine.store.emails import email_hash

SOURCE = "demo"
_UTC = dt.UTC
# Core attributes whose provenance the demo records (the ones an import would set).
_TRACKED = tuple(f for f in LEAD_FIELDS if f not in ("id", "created_at", "updated_at", "custom"))


class StoreNotEmpty(Exception):
    """The store already holds data; the demo refuses to mix its rows with it."""

    def __init__(self, leads: int, events: int) -> None:
        super().__init__(f"the store already holds {leads:,} leads and {events:,} events")
        self.leads, self.events = leads, events


@dataclass(frozen=True, slots=True)
class Filled:
    leads: int
    events: int
    suppressions: int
    seconds: float


def counts(conn: Connection) -> tuple[int, int]:
    """(leads, events) in the store."""
    leads = conn.execute(sa.select(sa.func.count()).select_from(S.leads)).scalar_one()
    events = conn.execute(sa.select(sa.func.count()).select_from(S.events)).scalar_one()
    return int(leads), int(events)


def empty_store(conn: Connection) -> None:
    """Delete every row of every store table, children first (the schema stays)."""
    for table in reversed(S.metadata.sorted_tables):
        conn.execute(table.delete())


def fill(engine: Engine, leads: int, seed: int, at: dt.datetime, reset: bool = False) -> Filled:
    """Generate ``leads`` leads (and their events, suppressions) before ``at`` and store them.
    Raises :class:`StoreNotEmpty` when the store holds data and ``reset`` is false."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    start = time.perf_counter()
    t = int(at.timestamp())
    n_events = n_suppressed = 0
    with write_transaction(engine) as conn:
        existing = counts(conn)
        if any(existing):
            if not reset:
                raise StoreNotEmpty(*existing)
            empty_store(conn)
        for chunk in generate(leads, seed, t):
            conn.execute(S.leads.insert(), list(lead_dicts(chunk.leads)))
            if chunk.events:
                conn.execute(S.events.insert(), list(event_dicts(chunk.events)))
            n_events += len(chunk.events)
            rows = list(suppression_dicts(chunk.leads, chunk.events))
            if rows:
                conn.execute(S.suppressions.insert(), rows)
            n_suppressed += len(rows)
        if conn.dialect.name == "postgresql" and leads:
            # Explicit ids went in: move the id sequence past them for the engine's own inserts.
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('leads', 'id'), "
                                 "(SELECT max(id) FROM leads))"))
    return Filled(leads, n_events, n_suppressed, time.perf_counter() - start)


def _instant(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, _UTC)


def lead_dicts(rows: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """Generator rows -> insert parameters for ``leads`` (with per-field provenance)."""
    for row in rows:
        values = dict(zip(LEAD_FIELDS, row, strict=True))
        created = _instant(values["created_at"])
        updated = _instant(values["updated_at"])
        values["created_at"], values["updated_at"] = created, updated
        stamp = {"source": SOURCE, "at": updated.isoformat()}
        values["provenance"] = {f: stamp for f in _TRACKED if values[f] is not None} | {
            f: stamp for f in values["custom"]}
        yield values


def event_dicts(rows: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """Generator rows -> insert parameters for ``events`` (every column, so one statement)."""
    for row in rows:
        values = dict(zip(EVENT_FIELDS, row, strict=True))
        values["occurred_at"] = _instant(values["occurred_at"])
        values.update(flow=None, step=None, properties=None, dedupe_key=None, import_id=None)
        yield values


def suppression_dicts(leads: list[tuple[Any, ...]],
                      events: list[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """An unsubscribe event suppresses the address, as the tracking server would record it."""
    email = LEAD_FIELDS.index("email")
    first = leads[0][0] if leads else 0
    for event in events:
        if event[1] == "unsubscribe":
            lead = leads[event[0] - first]
            yield {"email_hash": email_hash(lead[email]), "reason": "unsubscribe",
                   "scope": "global", "source": SOURCE, "note": None,
                   "created_at": _instant(event[2])}

"""Small SQL helpers the tracking writes share, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.schema import events

EVENT_COLUMNS = tuple(c.name for c in events.c if c.name != "id")


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` (any unique key): a fact delivered twice, or by two
    server processes at once, is stored once, without an error that would abort the batch."""
    return _insert_ignore(conn.dialect.name == "postgresql", table)


@functools.cache
def _insert_ignore(pg: bool, table: sa.Table) -> Any:
    return (postgresql if pg else sqlite).insert(table).on_conflict_do_nothing()


def event(**values: Any) -> dict[str, Any]:
    """An ``events`` row with every column named (one statement shape for executemany)."""
    unknown = set(values) - set(EVENT_COLUMNS)
    if unknown:
        raise KeyError(f"not events columns: {sorted(unknown)}")
    return {c: values.get(c) for c in EVENT_COLUMNS}

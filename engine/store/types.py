"""Column types that behave the same on SQLite and PostgreSQL.

- :class:`UTCDateTime`: an instant. PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall
  time as text ``YYYY-MM-DD HH:MM:SS.ffffff`` (fixed width, so text order is time order and
  SQLite's ``date()`` / ``julianday()`` read it). Values going in must be timezone-aware (a naive
  datetime is a bug: whose clock was it?); values coming out are always aware, in UTC.
- :data:`JSONDoc`: ``JSON`` on SQLite, ``JSONB`` on PostgreSQL (indexable, compact, and the
  ``->`` / ``->>`` / ``jsonb_typeof`` operators used by :mod:`engine.store.fields`).
- :data:`BigId`: 64-bit ids on PostgreSQL, ``INTEGER PRIMARY KEY`` (the rowid) on SQLite, whose
  integers are 64-bit anyway; ``BIGINT PRIMARY KEY`` would not be a rowid alias there and would
  not autoincrement.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware instant, stored as UTC on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware instant")
        utc = value.astimezone(UTC)
        # SQLite's DateTime type writes the wall time it is given: give it UTC, without an offset
        # (an offset in the text would break text ordering).
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_doc(none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL. ``none_as_null``: Python None becomes SQL NULL
    (not the JSON ``null``), for optional documents."""
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql")


JSONDoc = json_doc()
OptionalJSONDoc = json_doc(none_as_null=True)

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

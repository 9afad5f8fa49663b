"""Demo rows (engine.demo) in the exact form the store keeps them, for bulk loaders.

The store's column types (engine/store/types.py) decide the stored form: on SQLite an instant is
the text ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, a boolean 0 / 1, JSON its text; on PostgreSQL the
loader COPYs text (``timestamptz`` with ``+00``, ``t`` / ``f``, ``\\N`` for NULL). A test
(tests/engine/test_demo.py) loads a few rows this way and reads them back through SQLAlchemy to
check both forms against the types.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from engine.demo import EVENT_FIELDS, LEAD_FIELDS, DataSet

LEAD_COLUMNS = (*LEAD_FIELDS, "provenance")
EVENT_COLUMNS = EVENT_FIELDS  # the id comes from the database
_DAY = 86_400
_EPOCH = dt.date(1970, 1, 1)
_CLOCK = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(_DAY))
_ts_i = LEAD_FIELDS.index("created_at")
_up_i = LEAD_FIELDS.index("updated_at")
_consent_i = LEAD_FIELDS.index("consent")
_custom_i = LEAD_FIELDS.index("custom")


class Clock:
    """Epoch seconds -> ``YYYY-MM-DD HH:MM:SS`` without datetime objects (20M of them)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, t: int) -> str:
        d, s = divmod(t, _DAY)
        day = self.days.get(d)
        if day is None:
            day = self.days[d] = (_EPOCH + dt.timedelta(days=d)).isoformat()
        return f"{day} {_CLOCK[s]}"


def sqlite_chunk(data: DataSet, c: int, clock: Clock) -> tuple[list[tuple[Any, ...]],
                                                               list[tuple[Any, ...]]]:
    """Chunk ``c`` as parameter tuples for sqlite3 executemany (LEAD_COLUMNS / EVENT_COLUMNS)."""
    chunk = data.chunk(c)
    leads = []
    for row in chunk.leads:
        values = list(row)
        values[_ts_i] = clock(row[_ts_i]) + ".000000"
        values[_up_i] = clock(row[_up_i]) + ".000000"
        consent = row[_consent_i]
        values[_consent_i] = None if consent is None else int(consent)
        values[_custom_i] = json.dumps(row[_custom_i], ensure_ascii=False)
        values.append("{}")
        leads.append(tuple(values))
    events = [(e[0], e[1], clock(e[2]) + ".000000", *e[3:]) for e in chunk.events]
    return leads, events


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def copy_chunk(data: DataSet, c: int, clock: Clock) -> tuple[bytes, bytes, int]:
    """Chunk ``c`` as COPY text for PostgreSQL: (leads, events, number of events). The demo's
    texts hold no tab, newline or backslash (checked in the tests), so no escaping is needed."""
    chunk = data.chunk(c)
    lines = []
    for row in chunk.leads:
        values = list(row)
        values[_ts_i] = clock(row[_ts_i]) + "+00"
        values[_up_i] = clock(row[_up_i]) + "+00"
        values[_custom_i] = json.dumps(row[_custom_i], ensure_ascii=False)
        lines.append("\t".join(map(_text, values)) + "\t{}\n")
    n = "\\N"
    event_lines = [
        f"{e[0]}\t{e[1]}\t{clock(e[2])}+00\t" + "\t".join(n if v is None else v for v in e[3:])
        + "\n" for e in chunk.events]
    return "".join(lines).encode(), "".join(event_lines).encode(), len(chunk.events)


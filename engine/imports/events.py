"""`engine import events`: offline facts (seminars, exhibition badge scans, downloads) by email.

Columns: ``email``, ``type`` (a kind: ``page_view`` or a phrase like ``seminar attended``, or a
kind declared in the flows' ``events:``), ``occurred_at``, and the event properties conditions
can test (dsl.schema.EVENT_PROPERTIES: url, name, asset, campaign, form, ...). Other columns are
reported as unknown and skipped.

- An email with no lead is a rejected row ("no lead with this email"), counted and listed apart:
  never silently dropped. Import the leads first, or pass --skip-invalid to import the others.
- Re-importing is a no-op: each event gets a ``dedupe_key`` from its lead, kind, time and
  properties, and an event already stored (or twice in the file) is counted as unchanged.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from dsl.schema import EVENT_PROPERTIES
from engine.imports import columns as C
from engine.imports.report import Report
from engine.imports.run import Options
from engine.imports.validate import EVENT_COLUMNS, Columns, EventRow, Problem, event_row
from engine.store.fields import EVENT_COLUMNS as PROPERTY_COLUMNS
from engine.store.schema import events, leads

UNKNOWN_EMAIL = ("no lead with this email: import the lead first (engine import leads), or "
                 "pass --skip-invalid to import the other rows")


def dedupe_key(lead_id: int, row: EventRow) -> str:
    fact = [lead_id, row.type, row.occurred_at.astimezone(UTC).isoformat(),
            sorted((k, v) for k, v in row.properties.items() if v is not None)]
    digest = hashlib.sha256(json.dumps(fact, ensure_ascii=False).encode()).hexdigest()
    return f"import:{digest}"


class EventsImport:
    name: str = "events"
    required: tuple[str, ...] = EVENT_COLUMNS

    def __init__(self, opts: Options, report: Report) -> None:
        self.opts = opts
        self.report = report
        self.email_header = "email"

    def known(self) -> set[str]:
        return {*EVENT_COLUMNS, *EVENT_PROPERTIES}

    def builtin(self) -> dict[str, str]:
        return C.EVENT_BUILTIN

    def row(self, number: int, cells: list[str], columns: Columns) -> EventRow | list[Problem]:
        self.email_header = next(columns.headers[i] for i, t in columns.targets.items()
                                 if t == "email")
        return event_row(number, cells, columns, self.opts.config, self.opts.mapping,
                         self.opts.zone, self.opts.now)

    def begin(self, conn: sa.Connection) -> None:
        pass

    def finish(self, conn: sa.Connection, write: bool) -> None:
        pass

    def write(self, conn: sa.Connection, batch: list[EventRow], write: bool
              ) -> list[tuple[EventRow, Problem]]:
        if not batch:
            return []
        emails = sorted({r.email for r in batch})
        ids = dict(conn.execute(sa.select(leads.c.email, leads.c.id)
                                .where(leads.c.email.in_(emails))).all())
        unknown: list[tuple[EventRow, Problem]] = []
        keyed: dict[str, tuple[int, EventRow]] = {}
        for r in batch:
            lead_id = ids.get(r.email)
            if lead_id is None:
                self.report.unknown_email(r.number)
                unknown.append((r, Problem(r.number, self.email_header, r.email,
                                                  UNKNOWN_EMAIL)))
                continue
            key = dedupe_key(lead_id, r)
            if key in keyed:
                self.report.unchanged += 1
                continue
            keyed[key] = (lead_id, r)
        if not write or not keyed:
            return unknown
        stored = set(conn.execute(sa.select(events.c.dedupe_key)
                                  .where(events.c.dedupe_key.in_(list(keyed)))).scalars())
        rows: list[dict[str, Any]] = []
        for key, (lead_id, r) in keyed.items():
            if key in stored:
                self.report.unchanged += 1
                continue
            record: dict[str, Any] = {c: None for c in PROPERTY_COLUMNS.values()}
            record.update({PROPERTY_COLUMNS[k]: v for k, v in r.properties.items()})
            record |= {"lead_id": lead_id, "type": r.type, "occurred_at": r.occurred_at,
                       "source": self.opts.source, "dedupe_key": key,
                       "import_id": self.report.import_id}
            rows.append(record)
        if rows:
            conn.execute(events.insert(), rows)
            self.report.inserted += len(rows)
        return unknown

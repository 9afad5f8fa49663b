"""`engine import leads`: upsert leads by normalised email, applying the flows' merge rules.

Two passes inside the import's one transaction, both in constant memory:

1. Every valid row goes to a temporary staging table (email, row number, values), in batches.
2. The staging table is read back one page of addresses at a time, in address order; the rows of
   one address are merged into its lead in file order (engine.imports.merge) and only the *net*
   effect is written (``executemany`` per page). So an address that appears twice in a file
   (``A@x.com``, ``a@X.COM``, ``ａ@x.com``) is one lead, the later row winning a tie, and
   re-importing the file changes nothing: no value, no provenance, no stage-change event.

Policies (docs/import.md):

- An address already in the store is updated (upsert), never an error (T-I5).
- An address with an ``erasure`` suppression (the person asked to be forgotten) is skipped:
  re-importing would bring back the data the erasure deleted. Any other global suppression stays
  in force (sends check it by hash); the row is imported, but a ``consent`` of yes is not taken
  (T-I6): consent withdrawn is never resurrected by a spreadsheet.
- A stage that changes on an existing lead records one ``stage_change`` event (from, to, source,
  at = the value's time). A new lead's first stage is not a change: the first load of a CRM must
  not fire every "on stage change" flow at once.
- ``created_at``: the earliest time any source gives (merge rules do not apply to it); a new
  lead without one is created at the import's time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.imports import columns as C
from engine.imports.merge import Stamp, merge
from engine.imports.report import SHOWN_UNKNOWN_ROWS as SHOWN_ROWS
from engine.imports.report import Report
from engine.imports.run import BATCH, Options
from engine.imports.validate import Columns, LeadRow, Problem, lead_row
from engine.store.emails import email_hash
from engine.store.schema import events, leads, suppressions
from engine.store.types import UTCDateTime

COLUMNS = tuple(c.name for c in leads.c if c.name not in (
    "id", "email", "created_at", "updated_at", "custom", "provenance"))


def staging_table(name: str) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),  # JSON: the row's values
        sa.Column("created_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


@dataclass
class Lead:
    id: int | None  # None: new
    email: str
    values: dict[str, Any]  # core columns and custom attributes, by attribute name
    provenance: dict[str, Any]
    created_at: datetime
    fresh: bool = False  # created_at is the import's time, not yet a source's
    changes: set[str] = field(default_factory=set)  # fields the import changed
    stage_before: Any = None


class LeadsImport:
    name: str = "leads"
    required: tuple[str, ...] = ("email",)

    def __init__(self, opts: Options, report: Report) -> None:
        self.opts = opts
        self.report = report
        self.custom = {n for n, f in opts.config.fields.items() if f.custom}
        self.stage = staging_table(f"import_rows_{report.import_id or 0}")

    def known(self) -> set[str]:
        return set(self.opts.config.fields) | {C.FULL_NAME, C.UPDATED_AT}

    def builtin(self) -> dict[str, str]:
        return C.BUILTIN

    def row(self, number: int, cells: list[str], columns: Columns) -> LeadRow | list[Problem]:
        return lead_row(number, cells, columns, self.opts.config, self.opts.mapping,
                        self.opts.zone)

    # ------------------------------------------------------------ pass 1: staging

    def begin(self, conn: sa.Connection) -> None:
        self.stage = staging_table(f"import_rows_{self.report.import_id or 0}")
        self.stage.create(conn)

    def write(self, conn: sa.Connection, batch: list[LeadRow], write: bool
              ) -> list[tuple[LeadRow, Problem]]:
        if write and batch:
            conn.execute(self.stage.insert(), [
                {"email": r.email, "row": r.number, "created_at": r.values.pop("created_at", None),
                 "updated_at": r.updated_at, "data": json.dumps(r.values, ensure_ascii=False)}
                for r in batch])
        return []

    # ------------------------------------------------------------ pass 2: merging

    def finish(self, conn: sa.Connection, write: bool) -> None:
        last, done, total = "", 0, self.report.rows - self.report.rejected
        while write:
            emails = list(conn.execute(
                sa.select(self.stage.c.email).distinct().where(self.stage.c.email > last)
                .order_by(self.stage.c.email).limit(BATCH)).scalars())
            if not emails:
                break
            last = emails[-1]
            rows = conn.execute(sa.select(self.stage).where(self.stage.c.email.in_(emails))
                                .order_by(self.stage.c.email, self.stage.c.row)).all()
            self._page(conn, emails, rows)
            done += len(rows)
            if self.opts.progress is not None:
                self.opts.progress("merging", done, total)
        self.stage.drop(conn, checkfirst=True)

    def _page(self, conn: sa.Connection, emails: list[str], rows: Sequence[Any]) -> None:
        found = {lead.email: lead for lead in self._load(conn, emails)}
        hashes = {e: email_hash(e) for e in emails}
        suppressed = self._suppressed(conn, list(hashes.values()))
        saved: list[Lead] = []
        for email, grouped in itertools.groupby(rows, key=lambda r: r.email):
            group = list(grouped)
            reasons = suppressed.get(hashes[email], set())
            if "erasure" in reasons:
                self.report.erased_skipped += len(group)
                continue
            self.report.duplicates += len(group) - 1
            lead = found.get(email) or Lead(None, email, {}, {}, self.opts.now, fresh=True)
            before = (dict(lead.values), dict(lead.provenance), lead.created_at)
            lead.stage_before = lead.values.get("stage")
            for r in group:
                incoming = json.loads(r.data)
                if reasons and incoming.get("consent") is True:
                    del incoming["consent"]
                    self.report.consent_withheld += 1
                self._apply(lead, incoming, r.created_at, Stamp(
                    self.opts.source, r.updated_at or self.opts.now))
            if self._net(lead, *before):
                saved.append(lead)
            self._legal_basis(lead, group[0].row)
        self._save(conn, saved)

    def _legal_basis(self, lead: Lead, row: int) -> None:
        """T-I7: marketing mail to Japan needs a recorded basis (an opt-in, or an exception such
        as a business card). Such leads are imported, listed here, and not sendable until one
        is recorded; a lead of unknown country is treated as Japanese, our users' default."""
        country = str(lead.values.get("country") or "JP").strip().upper()
        if country in ("JP", "JPN", "JAPAN", "日本") and not lead.values.get("legal_basis"):
            self.report.no_legal_basis += 1
            if len(self.report.no_legal_basis_rows) < SHOWN_ROWS:
                self.report.no_legal_basis_rows.append(row)

    def _apply(self, lead: Lead, incoming: dict[str, Any], created: datetime | None,
               stamp: Stamp) -> None:
        if created is not None and (lead.fresh or created < lead.created_at):
            lead.created_at, lead.fresh = created, False
        values, stamps = merge(self.opts.config.rules, lead.values, lead.provenance, incoming,
                               stamp)
        lead.values.update(values)
        lead.provenance.update(stamps)

    def _net(self, lead: Lead, values: dict[str, Any], provenance: dict[str, Any],
             created: datetime) -> bool:
        """Keep only what the whole group changed; count the lead; whether to write it."""
        lead.changes = {f for f in set(values) | set(lead.values)
                        if lead.values.get(f) != values.get(f)}
        for f, stamp in list(lead.provenance.items()):
            old = provenance.get(f)
            if old is not None and f not in lead.changes and (
                    not isinstance(stamp, dict) or not isinstance(old, dict)
                    or stamp.get("source") == old.get("source")):
                lead.provenance[f] = old  # the same value from the same source: no churn
        if lead.id is None:
            self.report.inserted += 1
            return True
        if lead.changes or lead.created_at != created:
            self.report.updated += 1
            return True
        self.report.unchanged += 1
        return lead.provenance != provenance  # a more trusted source took a value over

    def _load(self, conn: sa.Connection, emails: list[str]) -> list[Lead]:
        out = []
        for row in conn.execute(sa.select(leads).where(leads.c.email.in_(emails))).mappings():
            values = {c: row[c] for c in COLUMNS if row[c] is not None}
            values.update({k: v for k, v in (row["custom"] or {}).items() if v is not None})
            out.append(Lead(row["id"], row["email"], values, dict(row["provenance"] or {}),
                            row["created_at"]))
        return out

    @staticmethod
    def _suppressed(conn: sa.Connection, hashes: list[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        query = sa.select(suppressions.c.email_hash, suppressions.c.reason, suppressions.c.scope
                          ).where(suppressions.c.email_hash.in_(hashes))
        for h, reason, scope in conn.execute(query):
            if reason == "erasure" or scope == "global":
                out.setdefault(h, set()).add(reason)
        return out

    def _record(self, lead: Lead) -> dict[str, Any]:
        record: dict[str, Any] = {c: lead.values.get(c) for c in COLUMNS}
        record["custom"] = {k: v for k, v in sorted(lead.values.items())
                            if k in self.custom and v is not None}
        record["provenance"] = dict(sorted(lead.provenance.items()))
        record["created_at"] = lead.created_at
        record["updated_at"] = self.opts.now
        return record

    def _save(self, conn: sa.Connection, batch: Iterable[Lead]) -> None:
        new, changed, stage_changes = [], [], []
        for lead in batch:
            record = self._record(lead)
            if lead.id is None:
                new.append({"email": lead.email, **record})
                continue
            changed.append({"_id": lead.id, **record})
            if "stage" in lead.changes:
                at = Stamp.from_json(lead.provenance.get("stage"))
                stage_changes.append({
                    "lead_id": lead.id, "type": "stage_change",
                    "occurred_at": at.at if at else self.opts.now,
                    "from_stage": lead.stage_before, "to_stage": record["stage"],
                    "source": self.opts.source, "import_id": self.report.import_id})
        if new:
            conn.execute(leads.insert(), new)
        if changed:
            stmt = leads.update().where(leads.c.id == sa.bindparam("_id")).values(
                {c: sa.bindparam(c) for c in changed[0] if c != "_id"})
            conn.execute(stmt, changed)
        if stage_changes:
            conn.execute(events.insert(), stage_changes)
            self.report.stage_changes += len(stage_changes)

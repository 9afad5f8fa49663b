"""`engine import leads`: upsert leads by normalised email, applying the flows' merge rules.

Per batch: one ``SELECT`` of the batch's leads and one of their suppressions, the merge in Python
(engine.imports.merge), then one ``executemany`` each for new leads, changed leads and stage-change
events. Policies (docs/import.md):

- An address already in the store is updated (upsert), never an error (T-I5). Rows with the same
  address in one file (``A@x.com``, ``a@X.COM``, ``ａ@x.com``) are one lead, merged in file order.
- An address with an ``erasure`` suppression (the person asked to be forgotten) is skipped:
  re-importing would bring back the data the erasure deleted. Any other suppression stays in
  force (sends check it by hash); the row is imported, but a ``consent`` of yes is not taken
  (T-I6): consent withdrawn is never resurrected by a spreadsheet.
- A stage that changes on an existing lead records a ``stage_change`` event (from, to, source,
  at = the value's time). A new lead's first stage is not a change: the first load of a CRM must
  not fire every "on stage change" flow at once.
- ``created_at``: the earliest time any source gives (merge rules do not apply to it); a new
  lead without one is created at the import's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.imports import columns as C
from engine.imports.merge import Stamp, merge
from engine.imports.report import Report
from engine.imports.run import Options
from engine.imports.validate import Columns, LeadRow, Problem, lead_row
from engine.store.emails import email_hash
from engine.store.schema import events, leads, suppressions

COLUMNS = tuple(c.name for c in leads.c if c.name not in (
    "id", "email", "created_at", "updated_at", "custom", "provenance"))


@dataclass
class Lead:
    id: int | None  # None: new in this batch
    email: str
    values: dict[str, Any]  # core columns and custom attributes, by attribute name
    provenance: dict[str, Any]
    created_at: datetime
    fresh: bool = False  # created_at is the import's time, not yet a source's
    dirty: bool = False
    stage_changes: list[tuple[str | None, str | None, datetime]] = field(default_factory=list)


class LeadsImport:
    name = "leads"
    required = ("email",)

    def __init__(self, opts: Options, report: Report) -> None:
        self.opts = opts
        self.report = report
        self.custom = {n for n, f in opts.config.fields.items() if f.custom}

    def known(self) -> set[str]:
        return set(self.opts.config.fields) | {C.FULL_NAME, C.UPDATED_AT}

    def builtin(self) -> dict[str, str]:
        return C.BUILTIN

    def row(self, number: int, cells: list[str], columns: Columns) -> LeadRow | list[Problem]:
        return lead_row(number, cells, columns, self.opts.config, self.opts.mapping,
                        self.opts.zone)

    # ------------------------------------------------------------ writing

    def write(self, conn: sa.Connection, batch: list[LeadRow], write: bool
              ) -> list[tuple[LeadRow, Problem]]:
        if not write or not batch:
            return []
        emails = sorted({r.email for r in batch})
        found = {lead.email: lead for lead in self._load(conn, emails)}
        hashes = {e: email_hash(e) for e in emails}
        suppressed = self._suppressed(conn, list(hashes.values()))
        for r in batch:
            reasons = suppressed.get(hashes[r.email], set())
            if "erasure" in reasons:
                self.report.erased_skipped += 1
                continue
            incoming = dict(r.values)
            if reasons and incoming.get("consent") is True:
                del incoming["consent"]
                self.report.consent_withheld += 1
            lead = found.get(r.email)
            if lead is None:
                lead = Lead(None, r.email, {}, {}, self.opts.now, fresh=True, dirty=True)
                found[r.email] = lead
                self._apply(lead, incoming, r)
                self.report.inserted += 1
            elif self._apply(lead, incoming, r):
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        self._save(conn, found.values())
        return []

    def _apply(self, lead: Lead, incoming: dict[str, Any], r: LeadRow) -> bool:
        """Merge one row into a lead; whether a value changed."""
        stamp = Stamp(self.opts.source, r.updated_at or self.opts.now)
        created = incoming.pop("created_at", None)
        changed = False
        if created is not None and (lead.fresh or created < lead.created_at):
            changed = changed or created != lead.created_at
            lead.created_at, lead.fresh, lead.dirty = created, False, True
        values, stamps = merge(self.opts.config.rules, lead.values, lead.provenance, incoming,
                               stamp)
        if "stage" in values and lead.id is not None:
            lead.stage_changes.append((lead.values.get("stage"), values["stage"], stamp.at))
        lead.values.update(values)
        lead.provenance.update(stamps)
        lead.dirty = lead.dirty or bool(values) or bool(stamps)
        return changed or bool(values)

    def _load(self, conn: sa.Connection, emails: list[str]) -> list[Lead]:
        rows = conn.execute(sa.select(leads).where(leads.c.email.in_(emails))).mappings()
        out = []
        for row in rows:
            values = {c: row[c] for c in COLUMNS if row[c] is not None}
            custom = row["custom"] or {}
            values.update({k: v for k, v in custom.items() if v is not None})
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
        record["custom"] = {k: v for k, v in sorted(lead.values.items()) if k in self.custom}
        record["provenance"] = dict(sorted(lead.provenance.items()))
        record["created_at"] = lead.created_at
        record["updated_at"] = self.opts.now
        return record

    def _save(self, conn: sa.Connection, batch: Any) -> None:
        new, changed, changes = [], [], []
        for lead in batch:
            if not lead.dirty:
                continue
            record = self._record(lead)
            if lead.id is None:
                new.append({"email": lead.email, **record})
            else:
                changed.append({"_id": lead.id, **record})
            for old, to, at in lead.stage_changes:
                changes.append({"lead_id": lead.id, "type": "stage_change", "occurred_at": at,
                                "from_stage": old, "to_stage": to, "source": self.opts.source,
                                "import_id": self.report.import_id})
        if new:
            conn.execute(leads.insert(), new)
        if changed:
            stmt = leads.update().where(leads.c.id == sa.bindparam("_id")).values(
                {c: sa.bindparam(c) for c in changed[0] if c != "_id"})
            conn.execute(stmt, changed)
        if changes:
            conn.execute(events.insert(), changes)
            self.report.stage_changes += len(changes)

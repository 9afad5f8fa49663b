"""What a form or download post writes: the lead (created or updated) and its event.

The lead goes through the import's own upsert (engine.imports.leads), as a one-row import from
the source ``web_form``: the same email normalisation, the flows' merge rules (e.g. ``stage,
owner: prefer crm over web_form``), provenance per field, and the same suppression rules: an
erased address is not brought back (nothing is written, not even the event), and a suppressed
one does not get its consent back from a form.

Consent is taken only from the explicit checkbox (``consent`` ticked), and then ``legal_basis``
records how: ``web form opt-in: <form>``. An unticked box changes nothing: withdrawing consent is
an unsubscribe, never a form field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from engine.imports.columns import Mapping
from engine.imports.config import Config
from engine.imports.leads import LeadsImport
from engine.imports.report import Report
from engine.imports.run import Options
from engine.store.emails import email_hash
from engine.store.schema import events, leads
from engine.track import visits
from engine.track.settings import Limits
from engine.track.sql import event

LEAD_SOURCE = "web_form"  # the merge-rule source of values from forms
EVENT_SOURCE = "tracking"


@dataclass(frozen=True, slots=True)
class Submission:
    form: str
    email: str
    values: dict[str, Any]  # attributes, already converted (engine.imports.validate.convert)
    consent: bool  # the consent checkbox was ticked
    asset: str | None = None  # a download: what was downloaded
    visitor: str | None = None  # the JS tag's visitor id, when the page had the tag


@dataclass(frozen=True, slots=True)
class Submitted:
    lead_id: int | None  # None: the address was erased, nothing was written
    created: bool
    consent_taken: bool


@dataclass(frozen=True, slots=True)
class _StagedRow:
    """The shape of a staged import row, as LeadsImport merges it."""

    email: str
    row: int
    data: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


def submit(conn: sa.Connection, sub: Submission, config: Config, zone: tzinfo, now: datetime,
           limits: Limits) -> Submitted:
    existed = conn.execute(sa.select(leads.c.id).where(leads.c.email == sub.email)).scalar()
    importer = LeadsImport(Options(LEAD_SOURCE, Mapping(), config, zone, now),
                           Report("leads", f"form {sub.form}", LEAD_SOURCE))
    suppressed = importer._suppressed(conn, [email_hash(sub.email)])
    incoming = dict(sub.values)
    consent = sub.consent and not suppressed
    if consent:
        incoming["consent"] = True
        incoming["legal_basis"] = f"web form opt-in: {sub.form}"
    data = json.dumps(incoming, ensure_ascii=False)
    importer._page(conn, [sub.email], [_StagedRow(sub.email, 1, data)])
    if importer.report.erased_skipped:
        return Submitted(None, False, False)
    lead_id = int(conn.execute(sa.select(leads.c.id).where(leads.c.email == sub.email))
                  .scalar_one())
    kind = "download" if sub.asset else "form_submit"
    conn.execute(events.insert(), event(
        lead_id=lead_id, type=kind, occurred_at=now, form=sub.form, asset=sub.asset,
        source=EVENT_SOURCE, properties={"consent": True} if consent else None))
    if sub.visitor is not None:
        visits.identify(conn, sub.visitor, lead_id, now, limits)
    return Submitted(lead_id, existed is None, consent)

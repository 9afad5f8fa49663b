"""The policy gate between the outbox and delivery, and the hand-off queue's daily capacity.

    gate_pass(conn, folder, at)       # due send intents: pending (may go), deferred, suppressed
    handoff_pass(conn, folder, at)    # due hand-offs: assigned, or deferred to the next day

Checked at send time, not only at entry, and again by the delivery layer when it claims a
message (`Gate.verdicts`), so a lead who unsubscribed, withdrew consent or moved into a deal in
the meantime is not mailed. In order:

1. suppressions (unsubscribe, bounce, complaint, manual, erasure): blocked (status suppressed);
2. consent: false is always blocked; unknown is blocked under `require consent`; a lead in
   Japan needs a recorded legal basis (特定電子メール法) under `require consent`;
3. `never email when ...`: blocked;
4. the sending window (hours, business days, public holidays of the lead's country, in the
   lead's time zone): deferred to the window's next opening;
5. the caps (`at most N emails per lead per D`, across all flows): what is over is deferred
   until a slot frees; when flows compete for the last slot, the smaller `priority` wins, then
   the older intent.

Nothing is dropped for being early or over a cap: deferred rows come back when due.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from dsl.formatter import condition as condition_text
from dsl.formatter import duration
from engine.conditions.compile import compile_condition
from engine.conditions.model import Context, span
from engine.conditions.plan import FixedPlanner
from engine.runtime import breaker
from engine.runtime.model import Folder
from engine.runtime.windows import (
    SendWindow,
    allowed_from,
    lead_zone,
    local_instant,
    next_local_midnight,
    zone_info,
)
from engine.store.db import among, unindexed
from engine.store.emails import email_hash
from engine.store.schema import leads, outbox, suppressions

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

COUNTED = ("sent", "claimed", "sending", "unknown")  # sends that used a slot of the cap
GATE_BATCH = 1000
SET_CHUNK = 1000  # ids in one UPDATE's IN list (far below every bound-parameter limit)


@dataclass(frozen=True)
class Verdict:
    status: str  # "pending" (may go now), "deferred", "suppressed"
    until: dt.datetime | None = None
    reason: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status == "pending"


ALLOW = Verdict("pending")


@dataclass
class GateReport:
    allowed: int = 0
    deferred: int = 0
    blocked: int = 0


class Gate:
    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.window: SendWindow = folder.window
        lines = [line for p in folder.symbols.policies for line in p.lines]
        self.caps = [line for line in lines if isinstance(line, A.CapRule)]
        self.periods = [(cap.count, span(cap.per)) for cap in self.caps]
        self.never = [line.condition for line in lines if isinstance(line, A.NeverEmail)]
        self.require_consent = any(isinstance(line, A.PolicyFlag)
                                   and line.kind == "require consent" for line in lines)
        self.ctx = Context(folder.symbols)
        # (zone, country, instant) -> when the window opens: the same few answers for every
        # lead of a country at one T, and each costs a holiday lookup and zone arithmetic.
        self._opens: dict[tuple[str, str | None, dt.datetime], dt.datetime] = {}

    def allowed_from(self, zone: ZoneInfo, country: str | None, at: dt.datetime,
                     ) -> dt.datetime:
        key = (zone.key, country, at)
        found = self._opens.get(key)
        if found is None:
            if len(self._opens) > 10_000:  # the instants of caps vary: keep it bounded
                self._opens.clear()
            found = self._opens[key] = allowed_from(self.window, zone, country, at)
        return found

    def verdicts(self, conn: Connection, rows: Sequence[Any], at: dt.datetime,
                 ) -> dict[int, Verdict]:
        """A verdict for each send intent (rows with id, lead_id, created_at, payload)."""
        if not rows:
            return {}
        dialect = conn.dialect.name
        lead_ids = sorted({int(r.lead_id) for r in rows})
        people = {int(r.id): r for r in conn.execute(
            sa.select(leads.c.id, leads.c.email, leads.c.consent, leads.c.country,
                      leads.c.time_zone, leads.c.legal_basis)
            .where(among(leads.c.id, lead_ids, dialect)))}
        hashes = {i: email_hash(p.email) for i, p in people.items()}
        suppressed: dict[str, str] = {}
        for h, reason in conn.execute(
                sa.select(suppressions.c.email_hash, suppressions.c.reason)
                .where(among(suppressions.c.email_hash, sorted(set(hashes.values())), dialect),
                       suppressions.c.scope == "global")):
            suppressed.setdefault(h, reason)
        never: dict[int, str] = {}
        for condition in self.never:
            compiled = compile_condition(condition, self.ctx, at, conn.dialect.name,
                                         planner=FixedPlanner(False))  # a batch: per lead
            query = (sa.select(leads.c.id).select_from(compiled.from_())
                     .where(among(leads.c.id, lead_ids, dialect), compiled.where))
            for (i,) in conn.execute(query):
                never.setdefault(int(i), f"never email when {condition_text(condition)}")
        out: dict[int, Verdict] = {}
        candidates: list[Any] = []
        # One verdict per lead for all of its rows up to the caps: the tests before them
        # look at the lead alone.
        by_lead: dict[int, Verdict | None] = {}
        for r in rows:
            lead_id = int(r.lead_id)
            if lead_id in by_lead:
                verdict = by_lead[lead_id]
            else:
                verdict = by_lead[lead_id] = self.lead_verdict(
                    people.get(lead_id), hashes, suppressed, never, at)
            if verdict is not None:
                out[int(r.id)] = verdict
            else:
                candidates.append(r)
        out.update(self.capped(conn, candidates, people, at))
        return out

    def lead_verdict(self, lead: Any, hashes: dict[int, str], suppressed: dict[str, str],
                     never: dict[int, str], at: dt.datetime) -> Verdict | None:
        """Blocked, or deferred to the sending window's opening in the lead's zone, or None
        (it may go, caps permitting)."""
        verdict = self.block(lead, hashes, suppressed, never)
        if verdict is not None:
            return verdict
        zone = self.zone(lead)
        opens = self.allowed_from(zone, lead.country, at)
        if opens > at:
            return Verdict("deferred", opens,
                           f"outside the sending window ({self.describe_window(zone.key)})")
        return None

    def zone(self, lead: Any) -> ZoneInfo:
        return lead_zone(lead._mapping, self.window)

    def block(self, lead: Any, hashes: dict[int, str], suppressed: dict[str, str],
              never: dict[int, str]) -> Verdict | None:
        if lead is None:
            return Verdict("suppressed", reason="the lead no longer exists")
        reason = suppressed.get(hashes[int(lead.id)])
        if reason is not None:
            return Verdict("suppressed", reason=f"suppressed ({reason})")
        if lead.consent is False:
            return Verdict("suppressed", reason="no consent to marketing mail (consent is false)")
        if self.require_consent and lead.consent is None:
            return Verdict("suppressed", reason="no consent recorded (policy: require consent)")
        if self.require_consent and (lead.country or "").upper() == "JP" and not lead.legal_basis:
            return Verdict("suppressed", reason="no legal basis recorded for a lead in Japan "
                           "(特定電子メール法)")
        if int(lead.id) in never:
            return Verdict("suppressed", reason=never[int(lead.id)])
        return None

    def describe_window(self, zone: str) -> str:
        w = self.window
        end = w.end.strftime("%H:%M") if w.end else "24:00"
        return f"{w.start.strftime('%H:%M')}-{end} on {w.days}, {zone}"

    def capped(self, conn: Connection, rows: list[Any], people: dict[int, Any],
               at: dt.datetime) -> dict[int, Verdict]:
        """Allow each lead's intents in priority order while every cap has room; defer the
        rest until the oldest counted send leaves the cap's period."""
        out = {int(r.id): ALLOW for r in rows}
        if not self.caps or not rows:
            return out
        # the rows being decided are not counted against themselves (delivery asks about rows
        # it has just claimed)
        used = self.sends(conn, sorted({int(r.lead_id) for r in rows}), at,
                          [int(r.id) for r in rows])
        by_lead: dict[int, list[Any]] = defaultdict(list)
        for r in rows:
            by_lead[int(r.lead_id)].append(r)
        for lead_id, intents in by_lead.items():
            intents.sort(key=lambda r: (_priority(r), r.created_at, r.id))
            times = sorted(used[lead_id])
            for r in intents:
                until = self.cap_until(times, at)
                if until is None:
                    times.append(at)
                    times.sort()
                    continue
                lead = people[lead_id]
                until = self.allowed_from(self.zone(lead), lead.country, until)
                out[int(r.id)] = Verdict("deferred", until, self.cap_reason(times, at))
        return out

    def sends(self, conn: Connection, lead_ids: list[int], at: dt.datetime,
              besides: Sequence[int] = ()) -> dict[int, list[dt.datetime]]:
        """When each lead's sends that use a slot of a cap went (inside the longest cap's
        period before T), leaving out the outbox rows ``besides``."""
        dialect = conn.dialect.name
        horizon = at - max(period for _, period in self.periods)
        sent_at = sa.func.coalesce(outbox.c.sent_at, outbox.c.updated_at)
        used: dict[int, list[dt.datetime]] = defaultdict(list)
        for lead_id, when in conn.execute(
                sa.select(outbox.c.lead_id, sent_at)
                .where(among(outbox.c.lead_id, lead_ids, dialect), outbox.c.action == "send",
                       unindexed(outbox.c.status, dialect).in_(COUNTED),
                       sent_at > horizon, sa.not_(among(outbox.c.id, list(besides), dialect)))):
            used[int(lead_id)].append(when)
        return used

    def cap_until(self, times: list[dt.datetime], at: dt.datetime) -> dt.datetime | None:
        """None when every cap has room at T; else when the tightest one frees a slot."""
        latest: dt.datetime | None = None
        for count, period in self.periods:
            if len(times) < count:
                continue  # fewer sends in all than the cap allows: room whatever the period
            inside = [t for t in times if t > at - period]
            if len(inside) >= count:
                frees = inside[len(inside) - count] + period
                latest = frees if latest is None else max(latest, frees)
        return latest

    def cap_reason(self, times: list[dt.datetime], at: dt.datetime) -> str:
        for use in self.cap_uses(times, at):
            if use.used >= use.allowed:
                return f"over the cap: {use.rule}"
        return "over the cap"

    def cap_uses(self, times: list[dt.datetime], at: dt.datetime) -> list[CapUse]:
        """Each cap with how many of the sends at ``times`` fall inside its period before T."""
        return [CapUse(f"at most {cap.count} emails per lead per {duration(cap.per)}",
                       len([t for t in times if t > at - period]), count)
                for cap, (count, period) in zip(self.caps, self.periods, strict=True)]


@dataclass(frozen=True)
class CapUse:
    rule: str  # "at most 3 emails per lead per 7 days"
    used: int  # sends inside the period before T
    allowed: int


@dataclass(frozen=True)
class LeadPolicy:
    """What the policy says about mailing one lead at T (`engine explain`): the suppressions
    on its address (every scope), the verdict an email due now would get, and each cap's use."""

    suppressions: list[dict[str, Any]]
    consent: bool | None
    legal_basis: str | None
    verdict: Verdict
    caps: list[CapUse]


@dataclass(frozen=True)
class _Due:
    """An email due now for the lead, as the gate sees an outbox row (no id: none exists)."""

    lead_id: int
    created_at: dt.datetime
    id: int = 0
    _mapping: dict[str, Any] = field(default_factory=dict)  # no flow priority


def lead_policy(conn: Connection, folder: Folder, lead_id: int, at: dt.datetime) -> LeadPolicy:
    """The gate's view of one lead at T, by the gate's own code (the complaint-rate breaker,
    which holds a sending domain rather than a lead, is not consulted)."""
    gate = Gate(folder)
    lead = conn.execute(sa.select(leads.c.email, leads.c.consent, leads.c.legal_basis)
                        .where(leads.c.id == lead_id)).one()
    found = conn.execute(
        sa.select(suppressions.c.reason, suppressions.c.scope, suppressions.c.source,
                  suppressions.c.note, suppressions.c.created_at)
        .where(suppressions.c.email_hash == email_hash(lead.email))
        .order_by(suppressions.c.created_at, suppressions.c.id)).all()
    verdict = gate.verdicts(conn, [_Due(lead_id, at)], at)[0]
    times = gate.sends(conn, [lead_id], at).get(lead_id, []) if gate.caps else []
    return LeadPolicy([dict(r._mapping) for r in found], lead.consent, lead.legal_basis,
                      verdict, gate.cap_uses(times, at))


def _priority(row: Any) -> int:
    """The flow's priority the intent carries: read by gate_pass as a column of its own (no
    JSON document decoded per row), by delivery from the payload of the rows it claimed."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    if "priority" in mapping:
        value = mapping["priority"]
    else:
        payload = mapping.get("payload") or {}
        value = payload.get("priority") if isinstance(payload, dict) else None
    return int(value) if isinstance(value, int) else 1_000_000


def _due(at: dt.datetime) -> list[ColumnElement[bool]]:
    return [outbox.c.action == "send", outbox.c.status.in_(("pending", "deferred")),
            outbox.c.next_attempt_at <= at]


def gate_pass(conn: Connection, folder: Folder, at: dt.datetime,
              commit: Callable[[], None] | None = None, sender: str | None = None,
              ) -> GateReport:
    """Decide every due send intent. A lead's intents are decided together (the cap), so
    batches are cut at lead boundaries.

    The due leads are read once, in order, as a compact array (8 bytes a lead): asking for
    "the next 1,000 due leads" per batch re-read every due intent each time (the status
    index has no lead order), which made a pass quadratic in the number of due intents. Each
    batch's intents are then read through the outbox's lead index (on SQLite, whose planner
    would otherwise take the status index again, the status test is kept off any index).
    ``sender``: the default From address, whose domain (or an owner's) the complaint-rate
    breaker (engine.runtime.breaker) may have paused; None: the breaker is not consulted."""
    gate = Gate(folder)
    report = GateReport()
    status = unindexed(outbox.c.status, conn.dialect.name)  # each batch by the lead index
    # the complaint-rate breaker holds a paused domain's sends (the same wrapper as delivery's)
    decide = gate.verdicts if sender is None else breaker.pausing(gate.verdicts, sender)
    due_leads = array("q", (int(r[0]) for r in conn.execute(
        sa.select(outbox.c.lead_id).where(*_due(at)).distinct().order_by(outbox.c.lead_id))))
    for start in range(0, len(due_leads), GATE_BATCH):
        lead_ids = list(due_leads[start:start + GATE_BATCH])
        rows = conn.execute(
            sa.select(outbox.c.id, outbox.c.lead_id, outbox.c.created_at,
                      outbox.c.payload["priority"].as_integer().label("priority"),
                      outbox.c.status)
            .where(outbox.c.action == "send", status.in_(("pending", "deferred")),
                   outbox.c.next_attempt_at <= at,
                   among(outbox.c.lead_id, lead_ids, conn.dialect.name))
            .order_by(outbox.c.id)).all()
        apply(conn, rows, decide(conn, rows, at), at, report)
        if commit is not None:
            commit()
    return report


def apply(conn: Connection, rows: Iterable[Any], verdicts: dict[int, Verdict],
          at: dt.datetime, report: GateReport) -> None:
    changes: list[tuple[Any, dict[str, Any]]] = []
    for r in rows:
        v = verdicts.get(int(r.id), ALLOW)
        if v.status == "pending":
            report.allowed += 1
            if r.status != "pending":
                changes.append((r, {"status": "pending", "reason": None, "next_attempt_at": at}))
        elif v.status == "deferred":
            report.deferred += 1
            changes.append((r, {"status": "deferred", "reason": v.reason,
                                "next_attempt_at": v.until}))
        else:
            report.blocked += 1
            changes.append((r, {"status": v.status, "reason": v.reason}))
    _set_many(conn, changes, at)


def _set_many(conn: Connection, changes: Iterable[tuple[Any, dict[str, Any]]],
              at: dt.datetime) -> None:
    """Each (row, values) as a compare-and-set on the row's status (the delivery layer may
    have claimed it meanwhile: such a row is left as it is). Rows given the same values from
    the same status share one ``UPDATE ... WHERE id IN (...) AND status = ...``: most of a
    pass's verdicts are alike (allowed; deferred to the same window's opening), and one
    statement per value set costs far less than one parameter set per row."""
    groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[int]] = defaultdict(list)
    for row, values in changes:
        groups[(row.status, tuple(sorted(values.items())))].append(int(row.id))
    current = unindexed(outbox.c.status, conn.dialect.name)  # the rows found by id
    for (status, items), ids in groups.items():
        for start in range(0, len(ids), SET_CHUNK):
            conn.execute(outbox.update()
                         .where(among(outbox.c.id, ids[start:start + SET_CHUNK], conn.dialect.name),
                                current == status)
                         .values({**dict(items), "updated_at": at}))


def _set(conn: Connection, row: Any, at: dt.datetime, **values: Any) -> None:
    _set_many(conn, [(row, values)], at)


# ---------------------------------------------------------------- hand-offs


@dataclass
class HandoffReport:
    assigned: int = 0
    waiting: int = 0


def handoff_pass(conn: Connection, folder: Folder, at: dt.datetime) -> HandoffReport:
    """Assign due hand-offs to their team's queue, best first (the priority order's rank, then
    the oldest), up to each team's daily capacity in the policy's time zone; the rest wait for
    the next day, in the same order. None is lost."""
    report = HandoffReport()
    zone = zone_info(folder.window.default_zone)
    assert zone is not None
    day_start = local_instant(at.astimezone(zone).date(), dt.time(0), zone).astimezone(dt.UTC)
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.payload, outbox.c.created_at, outbox.c.status)
        .where(outbox.c.action == "handoff", outbox.c.status.in_(("pending", "deferred")),
               outbox.c.next_attempt_at <= at)).all()
    by_team: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_team[str((r.payload or {}).get("team"))].append(r)
    for team, queue in sorted(by_team.items()):
        assigned_today = conn.execute(
            sa.select(sa.func.count()).select_from(outbox)
            .where(outbox.c.action == "handoff", outbox.c.status == "sent",
                   outbox.c.sent_at >= day_start,
                   outbox.c.payload["team"].as_string() == team
                   if conn.dialect.name == "postgresql"
                   else sa.func.json_extract(outbox.c.payload, "$.team") == team)).scalar_one()
        queue.sort(key=lambda r: (_rank(r), r.created_at, r.id))
        for r in queue:
            per_day = (r.payload or {}).get("per_day")
            if per_day is None or assigned_today < int(per_day):
                assigned_today += 1
                report.assigned += 1
                _set(conn, r, at, status="sent", sent_at=at, reason=f"assigned to {team}")
            else:
                report.waiting += 1
                _set(conn, r, at, status="deferred", next_attempt_at=next_local_midnight(at, zone),
                     reason=f"{team} is at capacity ({per_day} per day); first in line tomorrow")
    return report


def _rank(row: Any) -> int:
    rank = (row.payload or {}).get("rank")
    return int(rank) if isinstance(rank, int) else 1_000_000

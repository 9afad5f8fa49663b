"""A tick of every flow, then the gate, hand-offs and delivery: `engine run --once` and
`engine plan` are the same code path; plan runs it in one transaction that it rolls back.

    report = run_once(engine, folder, at, settings)            # durable; delivers what is due
    plan = make_plan(engine, folder, at, settings)             # nothing is kept

What plan lists is what run then does: the intents run's delivery will send (pending and due
after the gate), the ones the gate defers or blocks (with the reason), hand-offs (assigned or
waiting for capacity), notifications, attribute changes, tags and exits, each with why (the
journal of that enrollment in this tick: entry condition, branches, waits) and the lead's values
that the entry condition read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dsl import ast as A
from engine.conditions.sqlite_math import ensure_power
from engine.config import Settings
from engine.runtime.gate import Gate, GateReport, HandoffReport, gate_pass, handoff_pass
from engine.runtime.model import Folder
from engine.runtime.tick import ConcurrentChange, Tick, TickReport, Unit
from engine.store.keep import signing_secret
from engine.store.schema import journal, leads, outbox

RETRIES = 3
JOURNAL_ACTIONS = {"set": "set", "tag": "tag", "exit": "exit", "goal": "goal",
                   "completed": "complete"}


@dataclass
class RunReport:
    at: dt.datetime
    ticks: list[TickReport] = field(default_factory=list)
    gate: GateReport = field(default_factory=GateReport)
    handoffs: HandoffReport = field(default_factory=HandoffReport)
    delivery: Any = None


@contextmanager
def writer(engine: Engine) -> Iterator[Connection]:
    """A connection whose transactions take SQLite's write lock at BEGIN (never SQLITE_BUSY
    halfway through a batch).

    On PostgreSQL, a connection that plans every statement for its parameters. psycopg
    prepares a statement run five times, and PostgreSQL then keeps a generic plan if it looks
    no dearer: for a table last analyzed while empty (a new store after `VACUUM ANALYZE`, or
    one that gen_store.py loaded), the generic plan of "UPDATE ... WHERE id = $1" is a
    sequential scan, and a tick's thousands of compare-and-set updates of rows it has just
    inserted became quadratic (measured: 12,552 intents took 11.6 s in the gate instead of a
    fraction of a second)."""
    ensure_power(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            yield conn.execution_options(sqlite_begin="IMMEDIATE")
            return
        conn.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
        conn.commit()
        try:
            yield conn
        finally:
            with suppress(sa.exc.DBAPIError):  # a broken connection leaves the pool anyway
                conn.rollback()
                conn.exec_driver_sql("RESET plan_cache_mode")
                conn.commit()


def tick_all(unit: Unit, folder: Folder, at: dt.datetime, settings: Settings,
             secret: bytes, only: set[str] | None = None) -> list[TickReport]:
    """One tick of every flow (or of ``only``), highest priority first."""
    out = []
    for fr in folder.by_priority():
        if only is not None and fr.name not in only:
            continue
        for attempt in range(RETRIES):
            try:
                out.append(Tick(unit, fr, folder, at, secret,
                                settings.sender.message_id_domain).run())
                break
            except ConcurrentChange:
                unit.conn.rollback()
                if attempt == RETRIES - 1 or not unit.durable:
                    raise
    return out


def process(unit: Unit, folder: Folder, at: dt.datetime, settings: Settings, secret: bytes,
            only: set[str] | None = None) -> RunReport:
    report = RunReport(at)
    report.ticks = tick_all(unit, folder, at, settings, secret, only)
    report.handoffs = handoff_pass(unit.conn, folder, at)
    unit.commit()
    report.gate = gate_pass(unit.conn, folder, at, commit=unit.commit,
                            sender=settings.sender.address)
    unit.commit()
    return report


def run_once(engine: Engine, folder: Folder, at: dt.datetime, settings: Settings,
             deliver: bool = True, only: set[str] | None = None,
             build: Callable[..., Any] | None = None) -> RunReport:
    """Tick every flow at T, then deliver everything due (`engine run --once`)."""
    secret = signing_secret(engine, settings.secret)
    with writer(engine) as conn:
        report = process(Unit(conn, durable=True), folder, at, settings, secret, only)
    if deliver:
        report.delivery = deliver_due(engine, folder, at, settings, secret, build)
    return report


def deliver_due(engine: Engine, folder: Folder, at: dt.datetime, settings: Settings,
                secret: bytes, build: Callable[..., Any] | None = None) -> Any:
    """Hand what is due to the delivery layer (SMTP, or .eml files without an SMTP URL)."""
    from engine.delivery import deliver_due as deliver
    from engine.runtime.breaker import pausing

    # The policy gate again at claim time, and the complaint-rate breaker's paused domains.
    gate = pausing(Gate(folder).verdicts, settings.sender.address)
    if build is None:
        build = message_builder(settings, secret)
    return deliver(engine, settings, build=build, gate=gate, now=at)


def message_builder(settings: Settings, secret: bytes) -> Callable[..., Any]:
    """The delivery layer's ``build(row, lead)``: sends render the flow's template for the lead,
    notifications the alert template to the owner or team."""
    from engine.delivery.build import renderer_build
    from engine.mail.render import Renderer

    return renderer_build(Renderer(settings, secret))


# ---------------------------------------------------------------- plan


@dataclass
class Plan:
    at: dt.datetime
    actions: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    report: RunReport | None = None

    stranded: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actions": self.actions, "counts": self.counts,
                "stranded": self.stranded}


def make_plan(engine: Engine, folder: Folder, at: dt.datetime, settings: Settings,
              only: set[str] | None = None, subjects: bool = True) -> Plan:
    """Everything `run --once --at T` would do, computed by the same code in one transaction
    that is rolled back."""
    secret = signing_secret(engine, settings.secret)
    with writer(engine) as conn:
        try:
            stranded = stranded_enrollments(conn, folder)
            outbox_before = conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar() or 0
            journal_before = conn.execute(sa.select(sa.func.max(journal.c.id))).scalar() or 0
            report = process(Unit(conn, durable=False), folder, at, settings, secret, only)
            plan = collect(conn, folder, at, outbox_before, journal_before, only)
            plan.report = report
            plan.stranded = stranded
            if subjects:
                add_subjects(conn, plan, settings, secret)
        finally:
            conn.rollback()
    return plan


def stranded_enrollments(conn: Connection, folder: Folder) -> list[dict[str, Any]]:
    """Live enrollments sitting at a step the flows no longer have: how many, and where the
    next tick takes them (a `move` line's target, or out, with the reason)."""
    from engine.store.schema import enrollments

    out = []
    for fr in folder.flows:
        rows = conn.execute(
            sa.select(enrollments.c.step, sa.func.count())
            .where(enrollments.c.flow == fr.name, enrollments.c.ended_at.is_(None))
            .group_by(enrollments.c.step)).all()
        moves = {m.old: m for m in fr.moves}
        for step, count in rows:
            if step in fr.program.labels:
                continue
            move = moves.get(step)
            target = move.to if move is not None else None
            out.append({"flow": fr.name, "step": step, "enrollments": int(count),
                        "goes_to": target or "exit",
                        "reason": None if target else ((move.reason if move else None) or
                                                       f"step `{step}` was removed")})
    return out


def collect(conn: Connection, folder: Folder, at: dt.datetime, outbox_before: int,
            journal_before: int, only: set[str] | None = None) -> Plan:
    plan = Plan(at)
    trail: dict[int, list[dict[str, Any]]] = defaultdict(list)
    acted: list[Any] = []
    for row in conn.execute(sa.select(journal).where(journal.c.id > journal_before)
                            .order_by(journal.c.id)):
        trail[int(row.enrollment_id)].append(_why(row))
        if row.event in JOURNAL_ACTIONS:
            acted.append(row)
    emails = _emails(conn, {int(r.lead_id) for r in acted})
    rows = conn.execute(
        sa.select(outbox, leads.c.email).join(leads, leads.c.id == outbox.c.lead_id)
        .where(sa.or_(outbox.c.id > outbox_before, outbox.c.updated_at == at,
                      sa.and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= at,
                              outbox.c.action.in_(("send", "notify")))))
        .order_by(outbox.c.flow, outbox.c.step, outbox.c.id)).all()
    counts: dict[str, Any] = {}
    for r in rows:
        if only is not None and r.flow not in only:
            continue
        action = {"flow": r.flow, "step": r.step, "action": r.action, "email": r.email,
                  "status": "will send" if r.status == "pending" else r.status,
                  "occurrence": r.occurrence}
        if r.action == "send":
            action["template"] = r.template
        if r.action == "notify":
            action["template"] = r.template
            action["to"] = (r.payload or {}).get("to") or (r.payload or {}).get("url")
        if r.action == "handoff":
            action["team"] = (r.payload or {}).get("team")
            action["rank"] = (r.payload or {}).get("rank")
            action["status"] = "assigned" if r.status == "sent" else r.status
        if r.reason and r.status not in ("pending", "sent"):
            action["reason"] = r.reason
        action["why"] = trail.get(int(r.enrollment_id), [])
        action["_lead_id"] = int(r.lead_id)
        action["_payload"] = r.payload
        plan.actions.append(action)
        _count(counts, r.flow, r.step, f"{r.action}:{action['status']}")
    for j in acted:
        action = {"flow": j.flow, "step": j.step, "action": JOURNAL_ACTIONS[j.event],
                  "email": emails.get(int(j.lead_id)), "status": "done"}
        action.update({k: v for k, v in (j.details or {}).items() if k in (
            "attribute", "old", "new", "tag", "added", "reason")})
        action["why"] = trail.get(int(j.enrollment_id), [])
        plan.actions.append(action)
        _count(counts, j.flow, j.step or "-", JOURNAL_ACTIONS[j.event])
    if plan.report is None:
        pass
    plan.counts = counts
    add_values(conn, folder, plan, at)
    return plan


def _count(counts: dict[str, Any], flow: str, step: str, key: str) -> None:
    per_step = counts.setdefault(flow, {}).setdefault(step, {})
    per_step[key] = per_step.get(key, 0) + 1


def _why(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event": row.event}
    if row.step:
        out["step"] = row.step
    out.update(row.details or {})
    return out


def _emails(conn: Connection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {int(i): e for i, e in conn.execute(
        sa.select(leads.c.id, leads.c.email).where(leads.c.id.in_(sorted(ids))))}


def add_values(conn: Connection, folder: Folder, plan: Plan, at: dt.datetime) -> None:
    """The values of the attributes each flow's entry condition reads, per lead (the "which
    values" of why a lead is here)."""
    wanted: dict[str, list[str]] = {}
    for fr in folder.flows:
        entry = fr.entry
        cond = entry.condition if entry is not None else None
        wanted[fr.name] = attribute_names(cond, folder) if cond is not None else []
    ids = {a["_lead_id"] for a in plan.actions if "_lead_id" in a}
    rows: dict[int, Any] = {}
    if ids:
        rows = {int(r.id): r._mapping for r in conn.execute(
            sa.select(leads).where(leads.c.id.in_(sorted(ids))))}
    from engine.conditions.rows import lead_from_row

    for action in plan.actions:
        lead_id = action.pop("_lead_id", None)
        action.pop("_payload", None)
        names = wanted.get(action["flow"], [])
        if lead_id is None or not names or lead_id not in rows:
            continue
        lead = lead_from_row(rows[lead_id], folder.flow(action["flow"]).ctx)
        action["values"] = {n: _plain(lead.get(n)) for n in names}


def attribute_names(condition: A.Condition, folder: Folder,
                    seen: frozenset[str] = frozenset()) -> list[str]:
    """Attributes a condition reads, segments followed (in order, once each)."""
    out: list[str] = []

    def visit(node: Any, seen: frozenset[str]) -> None:
        if isinstance(node, A.Name):
            kind = folder.symbols.kind_of(node.name)
            if kind == "attribute" and node.name not in out:
                out.append(node.name)
            elif kind == "tier":
                source = folder.symbols.tiers[node.name].source
                if source not in out:
                    out.append(source)
            return
        if isinstance(node, A.SegmentRef):
            segment = folder.symbols.segments.get(node.name)
            if segment is not None and node.name not in seen:
                visit(segment.condition, seen | {node.name})
            return
        if hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                if name != "span":
                    visit(getattr(node, name), seen)
        elif isinstance(node, tuple):
            for item in node:
                visit(item, seen)

    visit(condition, seen)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def add_subjects(conn: Connection, plan: Plan, settings: Settings, secret: bytes) -> None:
    """The subject line of every send, rendered for its recipient as delivery will."""
    sends = [a for a in plan.actions if a["action"] == "send"]
    if not sends:
        return
    try:
        from engine.mail.render import MailJob, Renderer
    except ImportError:
        return
    renderer = Renderer(settings, secret)
    emails = sorted({a["email"] for a in sends})
    people = {r.email: dict(r._mapping) for r in conn.execute(
        sa.select(leads).where(leads.c.email.in_(emails)))}
    for a in sends:
        try:
            a["subject"] = renderer.subject(MailJob(template=a["template"],
                                                    lead=people[a["email"]], flow=a["flow"],
                                                    step=a["step"]))
        except Exception as exc:  # noqa: BLE001 - a broken template is shown, not fatal
            a["subject"] = None
            a["error"] = str(exc)


# ---------------------------------------------------------------- simulate


@dataclass
class Day:
    day: str
    ticks: int = 0
    entered: int = 0
    sent: int = 0
    notified: int = 0
    handed_off: int = 0
    deferred: int = 0
    blocked: int = 0


def simulate(engine: Engine, folder: Folder, start: dt.datetime, end: dt.datetime,
             every: dt.timedelta | None, settings: Settings) -> list[Day]:
    """Tick over a copy of the store (one transaction, rolled back) with the clock moving from
    ``start`` to ``end``: at each flow's own schedule, or every ``every``. What is due after a
    tick counts as delivered at once (no SMTP), so caps and waits see it."""
    from engine.runtime.schedule import fire_times, trigger_for

    secret = signing_secret(engine, settings.secret)
    moments: list[tuple[dt.datetime, set[str] | None]] = []
    if every is not None:
        t = start
        while t <= end:
            moments.append((t, None))
            t += every
    else:
        times: dict[dt.datetime, set[str]] = defaultdict(set)
        for fr in folder.flows:
            trigger = trigger_for(fr.schedule, folder.window.default_zone, start=start)
            for t in fire_times(trigger, start - dt.timedelta(microseconds=1), end):
                times[t].add(fr.name)
        moments = sorted(times.items())
    days: dict[str, Day] = {}
    with writer(engine) as conn:
        try:
            for at, only in moments:
                day = days.setdefault(at.date().isoformat(), Day(at.date().isoformat()))
                report = process(Unit(conn, durable=False), folder, at, settings, secret, only)
                day.ticks += 1
                day.entered += sum(t.entered for t in report.ticks)
                day.handed_off += report.handoffs.assigned
                day.deferred += report.gate.deferred
                day.blocked += report.gate.blocked
                sent = conn.execute(
                    outbox.update().where(outbox.c.status == "pending",
                                          outbox.c.next_attempt_at <= at,
                                          outbox.c.action.in_(("send", "notify")))
                    .values(status="sent", sent_at=at, updated_at=at)
                    .returning(outbox.c.action)).all()
                day.sent += sum(1 for r in sent if r.action == "send")
                day.notified += sum(1 for r in sent if r.action == "notify")
        finally:
            conn.rollback()
    return list(days.values())

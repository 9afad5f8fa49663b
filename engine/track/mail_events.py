"""What clicks, opens and unsubscribes write: jobs for the writer (engine.track.writer).

Each job takes an open Connection inside the writer's transaction and returns a small result for
the response. The message is always read from the store (the token only names its outbox row):
the lead, the flow and step, and the link the click leads to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.store.emails import email_hash
from engine.store.schema import audit, events, leads, outbox, suppressions
from engine.track import bots
from engine.track.landing import safe_link
from engine.track.settings import Limits
from engine.track.sql import event, insert_ignore

SOURCE = "tracking"
UNSUBSCRIBED = "unsubscribed"  # outbox.reason of the sends an unsubscribe stopped


@dataclass(frozen=True, slots=True)
class Message:
    outbox_id: int
    lead_id: int
    flow: str
    step: str
    template: str | None
    campaign: str | None
    links: tuple[object, ...]
    sent_at: datetime | None


# Hot-path statements are built once (building a statement costs more than running it here).
_MESSAGE = sa.select(outbox.c.id, outbox.c.lead_id, outbox.c.flow, outbox.c.step,
                     outbox.c.template, outbox.c.payload, outbox.c.sent_at
                     ).where(outbox.c.id == sa.bindparam("outbox_id"))
_RECENT_CLICKS = sa.select(events.c.id, events.c.link, events.c.machine, events.c.properties).where(
    events.c.lead_id == sa.bindparam("lead_id"), events.c.type == "email_click",
    events.c.occurred_at >= sa.bindparam("since"), events.c.occurred_at <= sa.bindparam("now"),
    events.c.flow == sa.bindparam("flow"), events.c.step == sa.bindparam("step"))
_INSERT_EVENT = events.insert()


def load_message(conn: sa.Connection, outbox_id: int) -> Message | None:
    row = conn.execute(_MESSAGE, {"outbox_id": outbox_id}).first()
    if row is None:
        return None
    payload = row.payload if isinstance(row.payload, dict) else {}
    links = payload.get("links")
    campaign = payload.get("campaign")
    return Message(row.id, row.lead_id, row.flow, row.step, row.template,
                   campaign if isinstance(campaign, str) else None,
                   tuple(links) if isinstance(links, list) else (), row.sent_at)


def _mail_event(msg: Message, kind: str, now: datetime, why: str | None,
                link: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"outbox_id": msg.outbox_id}
    if why is not None:
        properties["why"] = why
    return event(lead_id=msg.lead_id, type=kind, occurred_at=now, link=link, flow=msg.flow,
                 step=msg.step, template=msg.template, campaign=msg.campaign, source=SOURCE,
                 machine=True if why is not None else None, properties=properties)


# ---------------------------------------------------------------- clicks and opens


@dataclass(frozen=True, slots=True)
class Click:
    link: str
    message: Message
    why: str | None


def record_click(conn: sa.Connection, outbox_id: int, index: int, method: str,
                 user_agent: str | None, now: datetime, limits: Limits) -> Click | None:
    """Record an ``email_click`` on link ``index`` of the message; None (nothing written) when
    the message or the link does not exist, or the stored link is not one to redirect to."""
    msg = load_message(conn, outbox_id)
    if msg is None or not 0 <= index < len(msg.links):
        return None
    link = safe_link(msg.links[index])
    if link is None:
        return None
    why = bots.classify(method, user_agent, msg.sent_at, now, limits.machine_seconds)
    if why is None and _flag_burst(conn, msg, link, now, limits.burst_seconds):
        why = "burst"
    conn.execute(_INSERT_EVENT, _mail_event(msg, "email_click", now, why, link))
    return Click(link, msg, why)


def _flag_burst(conn: sa.Connection, msg: Message, link: str, now: datetime,
                seconds: float) -> bool:
    """Another link of this message clicked within ``seconds``: a scanner following every link.
    The earlier clicks of the burst are flagged too (they were the same scanner)."""
    recent = conn.execute(_RECENT_CLICKS, {
        "lead_id": msg.lead_id, "since": now - timedelta(seconds=seconds), "now": now,
        "flow": msg.flow, "step": msg.step}).all()
    if not any(r.link != link for r in recent):
        return False
    for r in recent:
        if not r.machine:
            props = dict(r.properties) if isinstance(r.properties, dict) else {}
            props["why"] = "burst"
            conn.execute(events.update().where(events.c.id == r.id).values(
                machine=True, properties=props))
    return True


def record_open(conn: sa.Connection, outbox_id: int, method: str, user_agent: str | None,
                now: datetime, limits: Limits) -> bool:
    """Record an ``email_open``; False when the message does not exist."""
    msg = load_message(conn, outbox_id)
    if msg is None:
        return False
    why = bots.classify(method, user_agent, msg.sent_at, now, limits.machine_seconds)
    conn.execute(_INSERT_EVENT, _mail_event(msg, "email_open", now, why))
    return True


# ---------------------------------------------------------------- unsubscribes


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the unsubscribe pages show: the address (masked) and the page language."""

    lead_id: int
    email: str
    language: str | None
    country: str | None


def recipient(conn: sa.Connection, outbox_id: int) -> Recipient | None:
    row = conn.execute(sa.select(leads.c.id, leads.c.email, leads.c.language, leads.c.country)
                       .select_from(outbox.join(leads, leads.c.id == outbox.c.lead_id))
                       .where(outbox.c.id == outbox_id)).first()
    return None if row is None else Recipient(row.id, row.email, row.language, row.country)


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    recipient: Recipient
    new: bool  # False: the address was already unsubscribed
    stopped: int  # queued sends set to suppressed


def unsubscribe(conn: sa.Connection, outbox_id: int, now: datetime) -> Unsubscribed | None:
    """Suppress the recipient of a message (by email hash, as every send checks) and stop
    every send of theirs still waiting in the outbox. Idempotent: a second call changes
    nothing and records nothing. None when the message (or its lead) no longer exists."""
    msg = load_message(conn, outbox_id)
    who = recipient(conn, outbox_id)
    if msg is None or who is None:
        return None
    done = suppress(conn, who.email, "unsubscribe", now, source=SOURCE,
                    note=f"{msg.flow}/{msg.step}", stopped_reason=UNSUBSCRIBED,
                    details={"outbox_id": msg.outbox_id, "flow": msg.flow, "step": msg.step},
                    lead_id=who.lead_id)
    if done.new:
        conn.execute(events.insert(), _mail_event(msg, "unsubscribe", now, None))
    return Unsubscribed(who, done.new, done.stopped)


# ---------------------------------------------------------------- suppressions


@dataclass(frozen=True, slots=True)
class Suppressed:
    new: bool  # False: the address already had a suppression for this reason
    stopped: int  # queued sends set to suppressed


def suppress(conn: sa.Connection, email: str, reason: str, now: datetime, *, source: str,
             note: str, stopped_reason: str, details: Mapping[str, Any],
             lead_id: int | None = None) -> Suppressed:
    """Suppress ``email`` (by its hash, as every send checks; scope global), stop the lead's
    sends still waiting in the outbox, and write the audit entry the first time.

    What an unsubscribe, a hard bounce and a complaint share. Rows already ``claimed`` or
    ``sending`` are left to the delivery worker, whose own check before DATA stops them.
    ``lead_id`` when the caller knows it; else the lead with this (normalised) address.
    ``details`` go into the audit entry between the reason and the number of sends stopped.
    Idempotent: a repeat stops what was queued since, and records nothing again."""
    digest = email_hash(email)
    added = conn.execute(insert_ignore(conn, suppressions).values(
        email_hash=digest, reason=reason, scope="global", source=source, note=note[:500],
        created_at=now).returning(suppressions.c.id)).first()
    lead: int | sa.ScalarSelect[Any] = lead_id if lead_id is not None else (
        sa.select(leads.c.id).where(leads.c.email == email).scalar_subquery())
    stopped = int(conn.execute(outbox.update().where(
        outbox.c.lead_id == lead, outbox.c.action == "send",
        outbox.c.status.in_(("pending", "deferred"))).values(
        status="suppressed", reason=stopped_reason, updated_at=now)).rowcount)
    if added is not None:
        conn.execute(audit.insert().values(
            at=now, actor=source, action="suppression.add", subject=digest,
            details={"reason": reason, **details, "stopped_sends": stopped}))
    return Suppressed(added is not None, stopped)

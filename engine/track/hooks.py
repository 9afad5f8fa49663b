"""``POST /hooks/events``: bounce, complaint and delivery reports from the relay or the ESP.

Mailbox providers report a hard bounce or a spam complaint days after the relay accepted the
message, to the relay or the ESP, which posts it here. The engine then stops mailing the address
(Gmail's 0.3 % complaint ceiling, RELIABILITY 1.2; suppression semantics 2.4).

- **Signed or nothing.** Without ``webhook_secret`` (ENGINE_WEBHOOK_SECRET) the endpoint does not
  exist (404). Every request carries ``X-Engine-Timestamp`` (Unix seconds) and
  ``X-Engine-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, compared in constant
  time; a timestamp more than 5 minutes away from the server's clock is refused (a captured
  request cannot be replayed later). Anything else: 403, nothing read beyond the body.
- **All or nothing.** The body is one JSON event or a list of them (at most
  :data:`MAX_EVENTS`); every item is validated before anything is written, and one bad item
  refuses the whole request (400, naming the item and the field, never echoing values). A valid
  request is applied in one transaction, committed before the answer.
- **At most once.** ``webhook_events`` keeps ``(source, event id)``; an event posted again (ESPs
  deliver at-least-once, SendGrid sometimes dozens of times) is inserted-or-ignored and changes
  nothing more.
- **Effects.** A hard bounce suppresses the address (reason ``bounce``, as the SMTP path does), a
  complaint too (reason ``complaint``); both stop the address's queued sends, as an unsubscribe
  does. Soft bounces (a full mailbox, an auto-reply, a policy refusal), deferrals and deliveries
  are only recorded: a vacation reply must never unsubscribe anyone (listmonk#1334). When the
  event names one of our Message-IDs, the outbox row gets the outcome in ``reason`` (shown by
  ``engine explain``); a row left ``unknown`` by a lost SMTP reply becomes ``sent``, since the
  relay evidently had it. A ``sent`` row stays ``sent``: a later bounce does not unsend it.
- **Complaint rate.** New complaints make the complaint-rate breaker (engine.runtime.breaker)
  measure each sending domain's rate, after the answer is sent: a warning at 0.1 %, and at
  0.3 % marketing mail from the domain pauses. A complaint without one of our Message-IDs is
  counted against the last marketing message sent to the address (``webhook_events.outbox_id``).
- **Untrusted text.** Reasons come from remote mail servers: control and formatting characters are
  removed, the recipient's address is masked, and the text is cut to :data:`MAX_REASON`
  characters. Nothing of a request is echoed back.

Besides this generic format, SendGrid's event webhook items are understood (``sg_event_id``,
``event``, ``email``, ``smtp-id``, ``type``, ``reason``/``response``, ``status``, ``timestamp``);
docs/tracking.md lists both.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from engine.delivery.classify import HARD_BOUNCE
from engine.runtime import breaker
from engine.store.emails import email_hash, normalise_email
from engine.store.schema import leads, outbox, webhook_events
from engine.track import pages
from engine.track.bodies import media_type, read_body
from engine.track.context import Context, context
from engine.track.mail_events import suppress
from engine.track.sql import insert_ignore
from engine.track.writer import Dropped

KINDS = ("bounce", "complaint", "delivered", "deferred")
GENERIC = "relay"  # the source of events in the generic format (unless they name another)
SENDGRID = "sendgrid"
SIGNATURE_HEADER = "x-engine-signature"
TIMESTAMP_HEADER = "x-engine-timestamp"
MAX_SKEW = 300  # seconds between the signed timestamp and the server's clock
MAX_EVENTS = 1000
MAX_REASON = 500
MAX_TEXT = 1_000  # longer ids, kinds, types are refused, not cut: nothing sane is that long
SOURCE = "webhook"  # suppressions.source, audit.actor
STOPPED = {"bounce": "bounced", "complaint": "complained"}  # outbox.reason of stopped sends
SENDGRID_KINDS = {"bounce": "bounce", "spamreport": "complaint", "delivered": "delivered",
                  "deferred": "deferred"}

_ID = re.compile(r"[\x21-\x7e]{1,200}")
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CODE = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
_MESSAGE_ID = re.compile(r"<[^<>\s@]{1,200}@[^<>\s@]{1,200}>")
_ADDRESS = re.compile(r"[^\s@<>,;:\"\\()\[\]]{1,64}@[^\s@<>,;:\"\\()\[\]]{1,253}")
# Control characters, and formatting ones that can disguise text (bidi overrides, zero widths).
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_FIRST_VALID = datetime(2000, 1, 1, tzinfo=UTC)
_LAST_VALID = datetime(2100, 1, 1, tzinfo=UTC)
log = logging.getLogger("engine.track")


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One validated event: what the relay says happened to one message or address."""

    source: str
    event_id: str
    kind: str  # KINDS
    email: str  # normalised
    severity: str | None = None  # bounces: "hard" (suppresses) or "soft"
    status: str | None = None  # RFC 3463 code, e.g. "5.1.1"
    message_id: str | None = None  # "<...@...>"
    reason: str | None = None  # cleaned and bounded
    occurred_at: datetime | None = None

    @property
    def suppression(self) -> str | None:
        """The suppression reason this event calls for, if any."""
        if self.kind == "complaint":
            return "complaint"
        if self.kind == "bounce" and self.severity == "hard":
            return "bounce"
        return None

    def summary(self) -> str:
        """``bounce hard 5.1.1: <reason>``: what the outbox row's reason records."""
        head = " ".join(x for x in (self.kind, self.severity, self.status) if x)
        text = f"{head} (reported by {self.source})"
        return f"{text}: {self.reason}"[:MAX_REASON] if self.reason else text


class BadEvent(ValueError):
    """A body or event that cannot be accepted; the message names the item and the field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------- signatures


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` (what the sender puts after ``sha256=``)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_problem(secret: bytes, timestamp: str | None, given: str | None, body: bytes,
                      now: datetime) -> str | None:
    """Why the request is not authentic (None: it is). The signature is checked before the
    clock, so only a correctly signed sender learns that its clock is off."""
    if not timestamp or not given:
        return "signature required"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "bad signature"
    text = given.strip()
    text = text[len("sha256="):] if text.lower().startswith("sha256=") else text
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(text.lower().encode("utf-8", "replace"), expected.encode()):
        return "bad signature"
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW:
        return "stale timestamp"
    return None


# ---------------------------------------------------------------- parsing


def parse_body(body: bytes) -> list[HookEvent | None]:
    """The events of a body (None for SendGrid events the engine has no use for)."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadEvent("body", "not JSON") from None
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_EVENTS:
        raise BadEvent("body", f"expected 1 to {MAX_EVENTS} events")
    return [parse_event(item, f"event {i}") for i, item in enumerate(items)]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_event(item: object, where: str = "event") -> HookEvent | None:
    if not isinstance(item, dict):
        raise BadEvent(where, "expected an object")
    if "sg_event_id" in item:
        return _sendgrid(item, where)
    return _generic(item, where)


def _generic(item: dict[str, Any], where: str) -> HookEvent:
    kind = _choice(item.get("type"), KINDS, f"{where}: type")
    source = item.get("source", GENERIC)
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise BadEvent(f"{where}: source", "expected [a-z0-9_-], at most 32 characters")
    email = _email(item.get("email"), f"{where}: email")
    severity, status = None, _status(item.get("status"), f"{where}: status")
    if kind == "bounce":
        severity, code = _bounce(item.get("bounce"), f"{where}: bounce")
        status = code or status
    elif item.get("bounce") is not None:
        raise BadEvent(f"{where}: bounce", "only for type bounce")
    return HookEvent(
        source=source, event_id=_event_id(item.get("id"), f"{where}: id"), kind=kind,
        email=email, severity=severity, status=status,
        message_id=_message_id(item.get("message_id"), f"{where}: message_id"),
        reason=clean_reason(_text(item.get("reason"), f"{where}: reason", None), email),
        occurred_at=_time(item.get("timestamp"), f"{where}: timestamp"))


def _sendgrid(item: dict[str, Any], where: str) -> HookEvent | None:
    event_id = _event_id(item.get("sg_event_id"), f"{where}: sg_event_id")
    event = _text(item.get("event"), f"{where}: event")
    kind = SENDGRID_KINDS.get(event or "")
    if kind is None:
        return None  # processed, dropped, open, click, unsubscribe...: not reports about mail
    email = _email(item.get("email"), f"{where}: email")
    status = _status(item.get("status"), f"{where}: status")
    severity = None
    if kind == "bounce":
        bounce_type = _text(item.get("type"), f"{where}: type")
        # A code decides as on the SMTP path; without one, SendGrid's "blocked" is soft.
        severity = _severity(status) if status else ("soft" if bounce_type == "blocked"
                                                     else "hard")
    smtp_id = _text(item.get("smtp-id"), f"{where}: smtp-id")
    try:
        message_id = _message_id(smtp_id, "")
    except BadEvent:
        message_id = None  # only used to annotate our row: not worth refusing the batch
    reason = _text(item.get("reason"), f"{where}: reason", None) or \
        _text(item.get("response"), f"{where}: response", None)
    return HookEvent(source=SENDGRID, event_id=event_id, kind=kind, email=email,
                     severity=severity, status=status, message_id=message_id,
                     reason=clean_reason(reason, email),
                     occurred_at=_time(item.get("timestamp"), f"{where}: timestamp"))


def _text(value: object, where: str, limit: int | None = MAX_TEXT) -> str | None:
    """Text or None. Reasons (``limit=None``) may be long (a whole bounce message): they are
    cut when cleaned, bounded meanwhile by the body's size cap."""
    if value is None:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise BadEvent(where, f"expected text of at most {limit} characters" if limit
                       else "expected text")
    return value


def _choice(value: object, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise BadEvent(where, f"expected one of {', '.join(allowed)}")
    return value


def _event_id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadEvent(where, "expected 1 to 200 printable ASCII characters")
    return value


def _email(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) > 320:
        raise BadEvent(where, "expected an email address")
    address = normalise_email(value)
    if not _ADDRESS.fullmatch(address) or _UNSHOWABLE.search(address):
        raise BadEvent(where, "expected an email address")
    return address


def _message_id(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 410:
        raise BadEvent(where, "expected a Message-ID")
    text = value.strip()
    text = text if text.startswith("<") else f"<{text}>"
    if not _MESSAGE_ID.fullmatch(text):
        raise BadEvent(where, "expected a Message-ID such as <id@domain>")
    return text


def _status(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CODE.fullmatch(value.strip()):
        raise BadEvent(where, "expected an enhanced status code such as 5.1.1")
    return value.strip()


def _severity(code: str) -> str:
    """hard only for a permanent code that condemns the address itself (the SMTP path's rule:
    5.1.1, 5.1.10...); mailbox full (5.2.x), policy (5.7.x) and every 4.x.x are soft."""
    klass, subject, detail = code.split(".")
    return "hard" if klass == "5" and f"{subject}.{detail}" in HARD_BOUNCE else "soft"


def _bounce(value: object, where: str) -> tuple[str, str | None]:
    """``"hard"`` / ``"soft"`` as the sender classified it, or an enhanced status code."""
    if value in ("hard", "soft"):
        assert isinstance(value, str)
        return value, None
    if isinstance(value, str) and _CODE.fullmatch(value.strip()) and value.strip()[0] != "2":
        code = value.strip()
        return _severity(code), code
    raise BadEvent(where, "expected hard, soft or an enhanced status code such as 5.1.1")


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    when: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if abs(value) < 1e11:
            when = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = None
    if when is None or not _FIRST_VALID <= when < _LAST_VALID:
        raise BadEvent(where, "expected Unix seconds or ISO 8601 with a time zone")
    return when.astimezone(UTC)


def clean_reason(text: str | None, email: str | None = None) -> str | None:
    """Reason text fit to store and show: no control or formatting characters, whitespace runs
    as one space, the recipient's address masked, at most MAX_REASON characters."""
    if not text:
        return None
    cleaned = " ".join(_UNSHOWABLE.sub(" ", text[:MAX_REASON * 8]).split())  # bounded work
    if email:
        cleaned = re.sub(re.escape(email), "<recipient>", cleaned, flags=re.IGNORECASE)
    if len(cleaned) > MAX_REASON:
        cleaned = cleaned[:MAX_REASON - 1] + "…"
    return cleaned or None


# ---------------------------------------------------------------- the write


@dataclass
class Applied:
    new: int = 0
    duplicates: int = 0
    suppressed: int = 0  # new events that suppressed their address (hard bounce, complaint)
    stopped: int = 0  # queued sends they stopped
    reconciled: int = 0  # outbox rows moved from unknown to sent
    complaints: int = 0  # new complaints (the complaint-rate breaker looks again)


_BY_MESSAGE_ID = sa.select(outbox.c.id, outbox.c.status).where(
    outbox.c.message_id == sa.bindparam("message_id"))
# The last marketing message sent to an address: what a complaint without one of our
# Message-IDs is counted against (SendGrid's spam reports, for one, carry none).
_LAST_SENT = (sa.select(outbox.c.id)
              .where(outbox.c.lead_id == sa.select(leads.c.id)
                     .where(leads.c.email == sa.bindparam("email")).scalar_subquery(),
                     outbox.c.action == "send", outbox.c.status == "sent")
              .order_by(outbox.c.sent_at.desc(), outbox.c.id.desc()).limit(1))


def apply(conn: sa.Connection, events: Sequence[HookEvent], now: datetime) -> Applied:
    """Record each event once and apply its effect, in the caller's transaction (the writer's).
    The event row is inserted first, ``ON CONFLICT DO NOTHING``: a repeat, in this batch, a
    later one or a concurrent server process, finds it and does nothing."""
    done = Applied()
    for event in events:
        row = (conn.execute(_BY_MESSAGE_ID, {"message_id": event.message_id}).first()
               if event.message_id else None)
        suppression = event.suppression
        about = None if row is None else int(row.id)
        if about is None and event.kind == "complaint":
            about = conn.execute(_LAST_SENT, {"email": event.email}).scalar()
        inserted = conn.execute(insert_ignore(conn, webhook_events).values(
            source=event.source, event_id=event.event_id, received_at=now,
            occurred_at=event.occurred_at, kind=event.kind, severity=event.severity,
            status=event.status, email_hash=email_hash(event.email),
            outbox_id=about, reason=event.reason,
            effect="suppressed" if suppression else "recorded",
        ).returning(webhook_events.c.event_id)).first()
        if inserted is None:
            done.duplicates += 1
            continue
        done.new += 1
        done.complaints += event.kind == "complaint"
        if suppression is not None:
            done.suppressed += 1
            done.stopped += suppress(
                conn, event.email, suppression, now, source=SOURCE,
                note=f"{event.source} event {event.event_id}", stopped_reason=STOPPED[suppression],
                details={"source": event.source, "event_id": event.event_id,
                         "status": event.status}).stopped
        if row is not None:
            done.reconciled += record_outcome(conn, int(row.id), str(row.status), event, now)
    return done


def record_outcome(conn: sa.Connection, row_id: int, status: str, event: HookEvent,
                   now: datetime) -> int:
    """Note the event on the message's outbox row; an ``unknown`` row becomes ``sent`` (the
    relay evidently had it). Rows still in the delivery worker's hands are left alone.
    Returns 1 when a row was reconciled."""
    note = event.summary()
    if status == "unknown":
        moved = conn.execute(outbox.update().where(
            outbox.c.id == row_id, outbox.c.status == "unknown").values(
            status="sent", sent_at=now, updated_at=now,
            reason=f"reconciled: {note}"[:MAX_REASON])).rowcount
        return int(moved == 1)
    if status == "sent":
        conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.status == "sent")
                     .values(reason=note, updated_at=now))
    return 0


# ---------------------------------------------------------------- the endpoint


def _plain(text: str, status: int, **headers: str) -> Response:
    return PlainTextResponse(text, status, headers=headers or None)


async def receive(request: Request) -> Response:
    ctx = context(request)
    secret = getattr(ctx.settings, "webhook_secret", None)
    if not secret:
        return pages.message("not_found", status=404)
    if media_type(request) != "application/json":
        return _plain("expected application/json", 415)
    limits = ctx.track.limits
    body = await read_body(request, limits.hook_body)
    problem = signature_problem(secret.encode("utf-8"), request.headers.get(TIMESTAMP_HEADER),
                                request.headers.get(SIGNATURE_HEADER), body, ctx.now())
    if problem is not None:
        return _plain(problem, 403)
    try:
        batch = parse_body(body)
    except BadEvent as exc:
        return _plain(str(exc), 400)
    wanted = [e for e in batch if e is not None]
    done = Applied()
    if wanted:
        try:
            done = await ctx.writer.run(partial(apply, events=wanted, now=ctx.now()))
        except (Dropped, SQLAlchemyError) as exc:
            log.error("webhook events NOT recorded (answered 503): %s", exc)
            return _plain("try again later", 503, **{"retry-after": "30"})
    # New complaints: the breaker looks at the rates once the answer is on its way (the
    # relay does not wait for a scan of the week's outbox).
    return JSONResponse({"received": len(batch), "new": done.new,
                         "duplicates": done.duplicates, "ignored": len(batch) - len(wanted),
                         "suppressed": done.suppressed, "stopped_sends": done.stopped,
                         "reconciled": done.reconciled},
                        background=BackgroundTask(watch, request) if done.complaints else None)


# ---------------------------------------------------------------- the complaint-rate breaker


class Watch:
    """The breaker's state in one server process: one check at a time (reports that arrive
    meanwhile are covered by one more check after it), and the delivered counts it reuses."""

    def __init__(self) -> None:
        self.running = False
        self.again = False
        self.counts = breaker.CachedCounts()


async def watch(request: Request) -> None:
    """Check the complaint rates after new complaints (engine.runtime.breaker): warn, or pause
    a domain at the ceiling, with an ERROR line naming it."""
    state = request.app.state
    current = getattr(state, "complaint_watch", None)
    if current is None:
        current = state.complaint_watch = Watch()
    if current.running:
        current.again = True
        return
    current.running = True
    try:
        current.again = True
        while current.again:
            current.again = False
            await check_rates(context(request), current.counts)
    finally:
        current.running = False


async def check_rates(ctx: Context, counts: breaker.Counts) -> list[breaker.Paused]:
    """Measure on a connection of its own (off the writer), pause through the writer, log after
    the commit. Returns the domains this check paused."""
    now, limits, default = ctx.now(), ctx.track.complaints, ctx.settings.sender.address

    def measure() -> tuple[list[tuple[breaker.Rate, breaker.Level]], set[str]]:
        with ctx.engine.connect() as conn:
            return (breaker.assess(conn, now, limits, default, sent=counts),
                    set(breaker.paused(conn)))

    try:
        found, stopped = await asyncio.to_thread(measure)
        due = [rate for rate, level in found if level == "pause" and rate.domain not in stopped]
        new = await ctx.writer.run(partial(pause_all, rates=due, now=now)) if due else []
    except (Dropped, SQLAlchemyError) as exc:
        log.error("complaint-rate check failed (it runs again with the next complaint): %s",
                  exc)
        return []
    for rate, level in found:
        if level == "warn":
            log.warning("complaint rate of %s is %s: at or above the %g%% warning level%s",
                        rate.domain, rate.describe(), limits.warn_percent,
                        "" if rate.delivered >= limits.min_delivered else
                        f" (fewer than {limits.min_delivered:,} delivered: no pause yet)")
    for record in new:
        log.error("SENDING PAUSED for %s: complaint rate %s reached %g%%; marketing mail from "
                  "%s is held until `engine db resume-sending %s`", record.domain,
                  record.rate, limits.pause_percent, record.domain, record.domain)
    return new


def pause_all(conn: sa.Connection, rates: Sequence[breaker.Rate], now: datetime
              ) -> list[breaker.Paused]:
    """The writer's job: pause each domain (those already paused are skipped)."""
    return [p for p in (breaker.pause(conn, rate, now, SOURCE) for rate in rates) if p]

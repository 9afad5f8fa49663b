"""The complaint-rate breaker (RELIABILITY 1.2 "Spam rate", test T-C8).

Gmail asks bulk senders to stay below 0.10 % spam complaints and never to reach 0.30 %; a domain
over the ceiling loses its inbox placement for weeks. The engine watches its own proxy for
Postmaster Tools: per sending domain (the domain of the From address), the complaints the relay
or ESP reported (``webhook_events``, kind ``complaint``) over the marketing messages delivered
(``outbox`` rows, action ``send``, status ``sent``), both in the last ``days`` days:

- at or above ``warn_percent`` (0.1 %) the tracking server logs a warning;
- at or above ``pause_percent`` (0.3 %), once at least ``min_delivered`` messages were delivered
  (1 complaint among 10 messages says nothing), sending of marketing mail from that domain
  **pauses**: a row ``sending_paused:<domain>`` in the ``settings`` table, an audit entry
  ``sending.pause`` and an ERROR log line naming the domain. Notifications to colleagues are
  not marketing mail and go on.

While a domain is paused, the delivery gate holds its marketing sends (deferred, with a reason
naming the domain and the rate, which ``engine explain`` shows) instead of sending them. Nothing
resumes by itself: an operator looks at what went wrong (a bought list, a misfiring flow) and
runs ``engine db resume-sending DOMAIN`` (:func:`resume`); held sends then go out at the next
delivery round. After a resume the rate is measured afresh from that moment, so the complaints
that caused the pause do not pause the domain again at once.

Who decides and who obeys: the webhook (engine.track.hooks) measures with :func:`assess` after
it records new complaints and calls :func:`pause`; the delivery layer asks :func:`hold` (or
wraps its gate with :func:`pausing`).
The two meet only in the ``settings`` row, so any number of server and delivery processes agree.

A message's sending domain is its From address's, chosen as engine.mail.render chooses it: the
lead's owner for ``from owner`` when the owner is an address, else the step's address, else the
configured sender. A complaint counts against the message it names by Message-ID; the webhook
attributes one without a Message-ID of ours to the last marketing message sent to the address,
and one it cannot attribute at all to the configured sender's domain.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.mail.context import is_address
from engine.store.db import among
from engine.store.schema import audit, leads, outbox, settings, webhook_events

PAUSED = "sending_paused:"  # settings key prefix: sending_paused:example.co.jp
RESUMED = "sending_resumed:"  # when an operator last resumed the domain (the rate restarts)
RECHECK = timedelta(hours=1)  # how long a held send waits before the gate looks again
Level = Literal["ok", "warn", "pause"]


@dataclass(frozen=True)
class Thresholds:
    """``[tracking.complaints]`` in engine.toml (engine.track.settings reads it)."""

    days: int = 7
    warn_percent: float = 0.1
    pause_percent: float = 0.3
    min_delivered: int = 1000


@dataclass(frozen=True)
class Rate:
    """Complaints over delivered marketing mail of one domain since ``since``."""

    domain: str
    complaints: int
    delivered: int
    since: datetime

    @property
    def percent(self) -> float | None:
        return 100.0 * self.complaints / self.delivered if self.delivered else None

    def describe(self) -> str:
        """``0.35% (4 complaints, 1,150 delivered since 2026-11-17 01:00 UTC)``."""
        shown = "n/a" if self.percent is None else f"{self.percent:.2f}%"
        return (f"{shown} ({self.complaints:,} complaint{'s' * (self.complaints != 1)}, "
                f"{self.delivered:,} delivered since {_minute(self.since)})")


@dataclass(frozen=True)
class Paused:
    """A paused domain, as the ``settings`` row keeps it."""

    domain: str
    at: datetime
    rate: str  # Rate.describe() when it paused

    @property
    def reason(self) -> str:
        """What a held send records (its outbox reason) and ``engine explain`` shows."""
        return (f"sending paused for {self.domain} since {_minute(self.at)}: complaint rate "
                f"{self.rate}; resume with `engine db resume-sending {self.domain}`")


@dataclass(frozen=True)
class Held:
    """A gate verdict: not now, the domain is paused. Reads as the delivery gate's and the
    runtime gate's verdicts do (``status``, ``until``, ``reason``)."""

    until: datetime
    reason: str
    status: str = "deferred"
    allowed: bool = False


# ---------------------------------------------------------------- pure decisions


def level(rate: Rate, limits: Thresholds) -> Level:
    """``pause`` at or above the ceiling with enough volume, ``warn`` at or above the warning
    level (or complaints with nothing delivered to measure them against), else ``ok``."""
    percent = rate.percent
    if rate.complaints == 0:
        return "ok"
    if percent is None:
        return "warn"
    # A hair of tolerance: 7 of 1,000 is 0.7 %, though 0.7 * 1000 is 700.0000000000001.
    if rate.delivered >= limits.min_delivered and percent >= limits.pause_percent - 1e-9:
        return "pause"
    return "warn" if percent >= limits.warn_percent - 1e-9 else "ok"


def sending_domain(address: str) -> str:
    """``Marketing@Mail.Example.co.jp`` -> ``mail.example.co.jp``."""
    return address.rsplit("@", 1)[-1].strip().rstrip(".>").lower()


def sender_of(payload: Mapping[str, Any] | None, owner: object, default: str) -> str:
    """The From address of a send, as engine.mail.render picks it: the owner for ``from owner``
    when the owner is an address, else the step's address, else the configured sender."""
    payload = payload or {}
    if payload.get("sender_owner") and is_address(owner):
        assert isinstance(owner, str)
        return owner
    address = payload.get("sender_address")
    return address if isinstance(address, str) and address else default


# ---------------------------------------------------------------- measuring


def _senders(source: sa.FromClause, *where: sa.ColumnElement[bool]) -> sa.Subquery:
    """(owner flag, step address, owner) of each message of ``source`` (which joins
    ``outbox``) that meets ``where``."""
    flag = outbox.c.payload["sender_owner"].as_boolean()
    return (sa.select(flag.label("by_owner"),
                      outbox.c.payload["sender_address"].as_string().label("address"),
                      sa.case((flag, leads.c.owner), else_=None).label("owner"))
            .select_from(source.outerjoin(leads, leads.c.id == outbox.c.lead_id))
            .where(*where)).subquery()


def _by_domain(conn: sa.Connection, senders: sa.Subquery, default: str) -> Counter[str]:
    """Count the rows of ``senders`` per sending domain: grouped in SQL by the few distinct
    (flag, address, owner) triples, mapped to domains here, as the renderer decides."""
    grouped = (sa.select(senders.c.by_owner, senders.c.address, senders.c.owner, sa.func.count())
               .group_by(senders.c.by_owner, senders.c.address, senders.c.owner))
    out: Counter[str] = Counter()
    for by_owner, address, owner, n in conn.execute(grouped):
        payload = {"sender_owner": bool(by_owner), "sender_address": address}
        out[sending_domain(sender_of(payload, owner, default))] += int(n)
    return out


def delivered(conn: sa.Connection, since: datetime, until: datetime,
              default: str) -> Counter[str]:
    """Marketing messages sent in [since, until], per sending domain."""
    return _by_domain(conn, _senders(
        outbox, outbox.c.action == "send", outbox.c.status == "sent",
        outbox.c.sent_at >= since, outbox.c.sent_at <= until), default)


def complaints(conn: sa.Connection, since: datetime, until: datetime,
               default: str) -> Counter[str]:
    """Complaints received in [since, until], per sending domain of the message they name
    (the configured sender's domain for those that name none)."""
    return _by_domain(conn, _senders(
        webhook_events.outerjoin(outbox, outbox.c.id == webhook_events.c.outbox_id),
        webhook_events.c.kind == "complaint", webhook_events.c.received_at >= since,
        webhook_events.c.received_at <= until), default)


Counts = Callable[[sa.Connection, datetime, datetime, str], Counter[str]]


def rates(conn: sa.Connection, now: datetime, limits: Thresholds, default: str,
          sent: Counts = delivered) -> dict[str, Rate]:
    """The rate of every domain with complaints in its window: the last ``limits.days`` days,
    or since the domain was last resumed if that is later. ``sent`` counts delivered mail
    (:func:`delivered`, or a :class:`CachedCounts`)."""
    since = now - timedelta(days=limits.days)
    resumed = {d: at for d, at in _resumed(conn).items() if at > since}
    starts: dict[datetime, tuple[Counter[str], Counter[str]]] = {}

    def counts(start: datetime) -> tuple[Counter[str], Counter[str]]:
        if start not in starts:
            starts[start] = (complaints(conn, start, now, default),
                             sent(conn, start, now, default))
        return starts[start]

    out: dict[str, Rate] = {}
    # Complaints since a resume are among the window's: the window names every candidate.
    for domain in sorted(counts(since)[0]):
        start = resumed.get(domain, since)
        got, delivered_ = counts(start)
        if got[domain]:  # else all of its complaints came before the resume
            out[domain] = Rate(domain, got[domain], delivered_[domain], start)
    return out


class CachedCounts:
    """:func:`delivered`, remembered for ``ttl``: a burst of complaint reports then costs one
    scan of the week's outbox, not one per report. A window starting within ``ttl`` of a
    remembered one, measured less than ``ttl`` after it, gets the remembered counts (at most
    ``ttl`` of sends missing: the rate errs high by that much, never low)."""

    def __init__(self, ttl: timedelta = timedelta(minutes=5)) -> None:
        self.ttl = ttl
        self.kept: dict[int, tuple[datetime, Counter[str]]] = {}

    def __call__(self, conn: sa.Connection, since: datetime, until: datetime,
                 default: str) -> Counter[str]:
        key = int(since.timestamp() // self.ttl.total_seconds())
        found = self.kept.get(key)
        if found is not None and timedelta(0) <= until - found[0] < self.ttl:
            return found[1]
        counted = delivered(conn, since, until, default)
        self.kept = {k: v for k, v in self.kept.items() if until - v[0] < self.ttl}
        self.kept[key] = (until, counted)
        return counted


# ---------------------------------------------------------------- the settings rows


def paused(conn: sa.Connection) -> dict[str, Paused]:
    """Every paused domain (a key range of the settings table: usually empty)."""
    out: dict[str, Paused] = {}
    for key, value in conn.execute(_keys(PAUSED)):
        domain = key[len(PAUSED):]
        doc = _json(value)
        out[domain] = Paused(domain, _instant(doc.get("at")), str(doc.get("rate", "")))
    return out


def _resumed(conn: sa.Connection) -> dict[str, datetime]:
    return {key[len(RESUMED):]: _instant(_json(value).get("at"))
            for key, value in conn.execute(_keys(RESUMED))}


def _keys(prefix: str) -> sa.Select[str, str]:
    # A range, not LIKE: SQLite's LIKE ignores case and cannot use the primary key.
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (sa.select(settings.c.key, settings.c.value)
            .where(settings.c.key >= prefix, settings.c.key < end))


def pause(conn: sa.Connection, rate: Rate, now: datetime, actor: str) -> Paused | None:
    """Pause the rate's domain; None when it already was (another report, another process),
    or when an operator resumed it after the rate's window began (the rate is stale)."""
    resumed_at = _resumed(conn).get(rate.domain)
    if resumed_at is not None and resumed_at > rate.since:
        return None
    record = Paused(rate.domain, now, rate.describe())
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    added = conn.execute(dialect.insert(settings).values(
        key=PAUSED + rate.domain, created_at=now,
        value=json.dumps({"at": now.isoformat(), "rate": record.rate,
                          "complaints": rate.complaints, "delivered": rate.delivered,
                          "since": rate.since.isoformat()}))
        .on_conflict_do_nothing().returning(settings.c.key)).first()
    if added is None:
        return None
    conn.execute(audit.insert().values(
        at=now, actor=actor, action="sending.pause", subject=rate.domain,
        details={"complaints": rate.complaints, "delivered": rate.delivered,
                 "percent": rate.percent, "since": rate.since.isoformat()}))
    return record


def resume(conn: sa.Connection, domain: str, now: datetime, actor: str) -> Paused | None:
    """Lift the pause of ``domain``: its held sends become due now, and its rate restarts from
    now. None (and nothing changed) when it was not paused."""
    record = paused(conn).get(domain)
    if record is None:
        return None
    conn.execute(settings.delete().where(settings.c.key.in_((PAUSED + domain, RESUMED + domain))))
    conn.execute(settings.insert().values(key=RESUMED + domain, created_at=now,
                                          value=json.dumps({"at": now.isoformat()})))
    marker = f"sending paused for {domain} since "
    released = conn.execute(outbox.update().where(
        outbox.c.status == "deferred",
        outbox.c.reason.like("%" + _escape(marker) + "%", escape="\\"))
        .values(next_attempt_at=now, updated_at=now)).rowcount
    conn.execute(audit.insert().values(
        at=now, actor=actor, action="sending.resume", subject=domain,
        details={"paused_at": record.at.isoformat(), "rate": record.rate,
                 "released_sends": int(released)}))
    return record


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- deciding and obeying


def assess(conn: sa.Connection, now: datetime, limits: Thresholds, default: str,
           sent: Counts = delivered) -> list[tuple[Rate, Level]]:
    """The rate and level of every domain with complaints in its window, worst first. Read
    only: the caller pauses (:func:`pause`) in a short write of its own, so that measuring a
    week of mail never holds the write lock."""
    found = [(rate, level(rate, limits))
             for rate in rates(conn, now, limits, default, sent).values()]
    order = {"pause": 0, "warn": 1, "ok": 2}
    return sorted(found, key=lambda f: (order[f[1]], f[0].domain))


def hold(conn: sa.Connection, rows: Sequence[Any], now: datetime, default: str,
         ) -> dict[int, Held]:
    """The marketing sends among ``rows`` (outbox rows: ``id``, ``lead_id``, ``payload``, and
    ``action`` when not all are sends) whose domain is paused, each held until ``now`` +
    :data:`RECHECK`. One small query when nothing is paused."""
    stopped = paused(conn)
    if not stopped or not rows:
        return {}
    sends = [r for r in rows if _get(r, "action", "send") == "send"]
    payloads = _payloads(conn, sends)
    by_owner = sorted({int(_get(r, "lead_id")) for r in sends
                       if payloads.get(int(_get(r, "id")), {}).get("sender_owner")})
    owners: dict[int, Any] = {}
    for start in range(0, len(by_owner), 500):
        owners.update(conn.execute(sa.select(leads.c.id, leads.c.owner)
                                   .where(leads.c.id.in_(by_owner[start:start + 500]))).all())
    out: dict[int, Held] = {}
    for r in sends:
        address = sender_of(payloads.get(int(_get(r, "id"))),
                            owners.get(int(_get(r, "lead_id"))), default)
        record = stopped.get(sending_domain(address))
        if record is not None:
            out[int(_get(r, "id"))] = Held(now + RECHECK, record.reason)
    return out


def pausing(gate: Any, default: str) -> Any:
    """A delivery gate (engine.delivery.gate: ``gate(conn, rows, now) -> {id: verdict}``) that
    asks ``gate`` (default_gate if None), then holds the sends of paused domains that it did
    not block: a suppressed address stays blocked, whatever its domain."""
    from engine.delivery.gate import as_verdict, default_gate

    inner = gate or default_gate

    def gated(conn: sa.Connection, rows: Sequence[Any], now: datetime) -> dict[int, Any]:
        answers: dict[int, Any] = {int(k): v for k, v in inner(conn, rows, now).items()}
        for row_id, held in hold(conn, rows, now, default).items():
            if row_id not in answers or as_verdict(answers[row_id]).kind != "block":
                answers[row_id] = held
        return answers

    return gated


def _payloads(conn: sa.Connection, rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """Each row's payload: its own, or read from the outbox for rows selected without it (the
    tick's gate leaves the documents out: it decides every due send, and only a paused
    domain needs to know who a send is from)."""
    out: dict[int, dict[str, Any]] = {}
    missing: list[int] = []
    for r in rows:
        mapping = r if isinstance(r, Mapping) else r._mapping
        if "payload" in mapping:
            out[int(mapping["id"])] = mapping["payload"] or {}
        else:
            missing.append(int(mapping["id"]))
    if missing:
        out.update((int(i), p or {}) for i, p in conn.execute(
            sa.select(outbox.c.id, outbox.c.payload)
            .where(among(outbox.c.id, missing, conn.dialect.name))))
    return out


# ---------------------------------------------------------------- small helpers


def _get(row: Any, name: str, default: Any = None) -> Any:
    """A column of a row: a mapping (the delivery layer's) or a SQLAlchemy Row."""
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _json(text: object) -> dict[str, Any]:
    try:
        doc = json.loads(str(text))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _instant(text: object) -> datetime:
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _minute(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

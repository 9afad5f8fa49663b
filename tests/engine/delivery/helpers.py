"""Store seeding and a tiny message builder for the delivery tests (the real renderer lives in
engine.mail.render; the worker only needs the attributes of a built message)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.delivery.policy import RetryPolicy, WorkerOptions
from engine.mail.tokens import message_id
from engine.store.schema import enrollments, leads, outbox

SECRET = b"test-secret"
DOMAIN = "mail.example.co.jp"
SENDER = "marketing@example.co.jp"
LINKS = ["https://www.example.co.jp/pricing", "https://www.example.co.jp/case"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TinyBuilt:
    data: bytes
    links: list[str]
    recipient: str
    sender: str
    message_id: str | None


class TemplateError(Exception):
    """Stands for engine.mail.render's: the worker recognises it by name."""


@dataclass
class TinyBuilder:
    """Builds a small personalised message; ``fail`` names recipients whose template fails,
    ``body_size`` pads the body (large messages for mid-DATA faults)."""

    fail: set[str] = field(default_factory=set)
    body_size: int = 0
    built: int = 0

    def __call__(self, row: Mapping[str, Any], lead: Mapping[str, Any]) -> TinyBuilt:
        payload = row.get("payload") or {}
        to = str(payload["to"]) if row["action"] == "notify" else str(lead["email"])
        if to in self.fail:
            raise TemplateError(f"templates/{row['template']}:3: 'first_name' is undefined")
        self.built += 1
        sender = payload.get("sender_address") or SENDER
        padding = ("x" * 76 + "\r\n") * (self.body_size // 78)
        text = (f"Message-ID: {row['message_id']}\r\nFrom: Example <{sender}>\r\nTo: {to}\r\n"
                f"Subject: Hello {lead.get('first_name') or ''}\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                f"Hello {lead.get('first_name') or ''},\r\n.a line starting with a dot\r\n"
                f"{LINKS[0]}\r\n{padding}")
        return TinyBuilt(text.encode(), list(LINKS), to, sender, row["message_id"])


def options(**changes: Any) -> WorkerOptions:
    retry = changes.pop("retry", RetryPolicy(base_seconds=60, max_attempts=5))
    base: dict[str, Any] = {"id": "test-worker", "batch": 50, "lease_seconds": 60,
                            "retry": retry, "webhook_backoff": 0.01}
    base.update(changes)
    return WorkerOptions(**base)


def seed(engine: sa.Engine, emails: Sequence[str], *, action: str = "send",
         payload: dict[str, Any] | None = None, consent: bool | None = True,
         flow: str = "nurture", at: datetime | None = None) -> list[int]:
    """One lead (created if new), one enrollment and one due outbox row per address."""
    at = at or utcnow()
    ids: list[int] = []
    with engine.begin() as conn:
        for email in emails:
            lead_id = conn.execute(sa.select(leads.c.id).where(leads.c.email == email)).scalar()
            if lead_id is None:
                lead_id = conn.execute(leads.insert().values(
                    email=email, first_name="Taro", consent=consent, created_at=at,
                    updated_at=at).returning(leads.c.id)).scalar_one()
            enrollment = conn.execute(enrollments.insert().values(
                flow=flow, version=1, lead_id=lead_id, step="intro", state="waiting",
                entered_at=at, updated_at=at, ended_at=at).returning(enrollments.c.id)
            ).scalar_one()
            key = f"{flow}:{enrollment}:intro:1"
            ids.append(conn.execute(outbox.insert().values(
                flow=flow, enrollment_id=enrollment, step="intro", occurrence="1",
                lead_id=lead_id, flow_version=1, action=action, template="dormant/intro.html",
                payload=payload if payload is not None else
                {"sender_owner": False, "sender_address": None},
                message_id=message_id(SECRET, key, DOMAIN), status="pending",
                next_attempt_at=at - timedelta(seconds=1), created_at=at, updated_at=at,
            ).returning(outbox.c.id)).scalar_one())
    return ids


def rows(engine: sa.Engine, ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
    query = sa.select(outbox)
    if ids is not None:
        query = query.where(outbox.c.id.in_(list(ids)))
    with engine.connect() as conn:
        return {int(r.id): dict(r._mapping) for r in conn.execute(query)}


def statuses(engine: sa.Engine, ids: Sequence[int] | None = None) -> dict[int, str]:
    return {i: r["status"] for i, r in rows(engine, ids).items()}

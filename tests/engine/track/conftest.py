"""Fixtures for the tracking server: a migrated store, sent messages made by hand (lead,
enrollment, outbox row with ``payload["links"]``), a settable clock, and the app under
Starlette's TestClient (lifespan on, so the writer thread runs)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning

from engine.config import Settings
from engine.mail.tokens import sign
from engine.store import db
from engine.store.schema import enrollments, events, leads, outbox, suppressions
from engine.track import create_app
from engine.track.settings import Limits, TrackSettings

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its TestClient; httpx (a dependency of the engine) still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SECRET = b"tracking-tests-secret-0123456789"
SITE = "https://www.example.co.jp"
OTHER_SITE = "https://partner.example.com"
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SENT = T0 - timedelta(hours=2)
LINKS = [f"{SITE}/pricing", f"{SITE}/case-studies/trading-co?ref=mail#top",
         f"{OTHER_SITE}/event"]
UTM = (("utm_source", "nurture"), ("utm_medium", "email"), ("utm_campaign", "{flow}"),
       ("utm_content", "{step}"))
# Functional tests are not about rate limits (test_limits.py is): effectively none.
NO_RATE_LIMITS = Limits(rate_mail=(1e6, 1_000_000), rate_collect=(1e6, 1_000_000),
                        rate_form=(1e6, 1_000_000))
_emails = itertools.count(1)


@dataclass
class Clock:
    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


@dataclass
class Sent:
    """A message as the delivery side leaves it: its lead, outbox row and tracked URLs."""

    lead_id: int
    outbox_id: int
    email: str
    links: list[str] = field(default_factory=list)

    def click(self, i: int, secret: bytes = SECRET) -> str:
        return f"/c/{sign(secret, 'click', outbox_id=self.outbox_id)}/{i}"

    def open(self, secret: bytes = SECRET) -> str:
        return f"/o/{sign(secret, 'open', outbox_id=self.outbox_id)}.gif"

    def unsubscribe(self, secret: bytes = SECRET) -> str:
        return f"/u/{sign(secret, 'unsubscribe', outbox_id=self.outbox_id)}"


def add_lead(engine: sa.Engine, email: str | None = None, **values: Any) -> int:
    email = email or f"lead{next(_emails)}@example.co.jp"
    with db.write_transaction(engine) as conn:
        return int(conn.execute(leads.insert().values(
            email=email, created_at=T0 - timedelta(days=400), updated_at=T0 - timedelta(days=1),
            **values).returning(leads.c.id)).scalar_one())


def send_message(engine: sa.Engine, links: list[str] | None = None, *, lead_id: int | None = None,
                 sent_at: datetime | None = SENT, flow: str = "revive_dormant",
                 step: str = "intro", status: str = "sent", **lead: Any) -> Sent:
    """A lead (new unless ``lead_id``), its enrollment and one sent message."""
    lead_id = lead_id or add_lead(engine, **lead)
    links = LINKS if links is None else links
    with db.write_transaction(engine) as conn:
        email = conn.execute(sa.select(leads.c.email).where(leads.c.id == lead_id)).scalar_one()
        enrollment = conn.execute(enrollments.insert().values(
            flow=flow, version=1, lead_id=lead_id, step=step, state="waiting",
            entered_at=SENT, updated_at=SENT).returning(enrollments.c.id)).scalar_one()
        outbox_id = conn.execute(outbox.insert().values(
            flow=flow, enrollment_id=enrollment, step=step, occurrence=str(next(_emails)),
            lead_id=lead_id, flow_version=1, action="send", template="dormant/intro.html",
            payload={"links": links}, status=status, next_attempt_at=SENT, created_at=SENT,
            updated_at=SENT, sent_at=sent_at if status == "sent" else None)
            .returning(outbox.c.id)).scalar_one()
    return Sent(lead_id, int(outbox_id), email, links)


def queue_message(engine: sa.Engine, lead_id: int, status: str = "pending",
                  action: str = "send", step: str = "checkin") -> int:
    """Another outbox row of the lead, not sent yet."""
    with db.write_transaction(engine) as conn:
        enrollment = conn.execute(enrollments.insert().values(
            flow=f"flow_{next(_emails)}", version=1, lead_id=lead_id, step=step, state="waiting",
            entered_at=SENT, updated_at=SENT).returning(enrollments.c.id)).scalar_one()
        return int(conn.execute(outbox.insert().values(
            flow="other", enrollment_id=enrollment, step=step, occurrence="1", lead_id=lead_id,
            flow_version=1, action=action, template="x.html", status=status,
            next_attempt_at=T0, created_at=SENT, updated_at=SENT).returning(outbox.c.id))
            .scalar_one())


def rows(engine: sa.Engine, table: sa.Table, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where).order_by(table.c[
            table.primary_key.columns.keys()[0]])).mappings())


def event_rows(engine: sa.Engine, kind: str | None = None) -> list[Any]:
    return rows(engine, events, *([events.c.type == kind] if kind else []))


def snapshot(engine: sa.Engine) -> dict[str, list[Any]]:
    """Every row a tracking request could change, to assert that nothing changed."""
    from engine.store.schema import anonymous_views, audit, identities

    return {t.name: [dict(r) for r in rows(engine, t)]
            for t in (events, suppressions, outbox, leads, identities, anonymous_views, audit)}


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite store only: for bad paths that write nothing, where the dialect cannot matter
    (each PostgreSQL database costs a second of set-up)."""
    engine = db.connect(f"sqlite:///{tmp_path}/lite.db")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(engine: sa.Engine, clock: Clock, limits: Limits | None = None,
                site_origins: tuple[str, ...] = (SITE,)) -> TestClient:
    settings = Settings(site_origins=site_origins)
    track = TrackSettings(site_origins=site_origins, utm=UTM, limits=limits or NO_RATE_LIMITS)
    app = create_app(engine, settings, track, secret=SECRET, now=clock)
    return TestClient(app, follow_redirects=False, base_url="https://t.example.co.jp")


@pytest.fixture
def client(store: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with make_client(store, clock) as c:
        yield c


@pytest.fixture
def lite_client(lite: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with make_client(lite, clock) as c:
        yield c

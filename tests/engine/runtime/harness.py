"""A small world for runtime tests: flows from text, leads and events inserted directly, ticks
at chosen moments, and delivery simulated (due sends marked sent) where a test needs time to
pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dsl.parser import parse_source
from engine.config import Settings
from engine.runtime.model import Folder
from engine.runtime.runner import RunReport, make_plan, run_once
from engine.store.db import connect
from engine.store.schema import enrollments, events, journal, leads, outbox

SETTINGS = Settings(secret="test-secret-not-for-production")
OPEN_POLICY = """
policy:
    at most 5 emails per lead per 1 day
"""


def folder(text: str, shared: str = OPEN_POLICY) -> Folder:
    modules = []
    for name, source in (("shared.flow", shared), ("test.flow", text)):
        module, diags = parse_source(name, source)
        assert module is not None and not [d for d in diags if d.is_error], diags
        modules.append(module)
    return Folder.from_modules(modules, {"test.flow"})


OPENED: list[Engine] = []


def store(url: str) -> Engine:
    """The store at ``url``, migrated; disposed after the test (conftest.py)."""
    engine = connect(url)
    OPENED.append(engine)
    return engine


def close_all() -> None:
    while OPENED:
        OPENED.pop().dispose()


def add_lead(engine: Engine, email: str, at: dt.datetime, **values: Any) -> int:
    row = {"email": email, "consent": True, "created_at": at, "updated_at": at,
           "country": "JP", "legal_basis": "web form opt-in", **values}
    with engine.begin() as conn:
        return int(conn.execute(leads.insert().values(**row).returning(leads.c.id)).scalar_one())


def add_event(engine: Engine, lead_id: int, kind: str, at: dt.datetime, **props: Any) -> None:
    with engine.begin() as conn:
        conn.execute(events.insert().values(lead_id=lead_id, type=kind, occurred_at=at, **props))


def tick(engine: Engine, f: Folder, at: dt.datetime) -> RunReport:
    return run_once(engine, f, at, SETTINGS, deliver=False)


def plan(engine: Engine, f: Folder, at: dt.datetime) -> list[dict[str, Any]]:
    return make_plan(engine, f, at, SETTINGS, subjects=False).actions


def deliver(engine: Engine, at: dt.datetime) -> int:
    """What delivery would do with the due intents, without mail: mark them sent."""
    with engine.begin() as conn:
        return conn.execute(outbox.update().where(
            outbox.c.status == "pending", outbox.c.next_attempt_at <= at,
            outbox.c.action.in_(("send", "notify"))).values(
            status="sent", sent_at=at, updated_at=at)).rowcount


def intents(engine: Engine, **where: Any) -> list[Any]:
    query = sa.select(outbox, leads.c.email).join(leads, leads.c.id == outbox.c.lead_id)
    for k, v in where.items():
        query = query.where(outbox.c[k] == v)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(outbox.c.id)))


def enrollment(engine: Engine, lead_id: int, flow: str = "t") -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(enrollments).where(
            enrollments.c.lead_id == lead_id, enrollments.c.flow == flow)
            .order_by(enrollments.c.id.desc())).first()


def journal_events(engine: Engine, lead_id: int) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [(r.event, r.step) for r in conn.execute(
            sa.select(journal).where(journal.c.lead_id == lead_id).order_by(journal.c.id))]


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)

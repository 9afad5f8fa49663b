"""docs/operations.md: every monitoring query runs on a real store and finds what it is meant to
find, on PostgreSQL as written and on SQLite with the substitutions the guide tells; the restore
procedure's UPDATE and reconcile_unknown settle the outbox as the guide says."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.delivery import reconcile_unknown
from engine.store import db
from engine.store.emails import email_hash
from engine.store.schema import audit, enrollments, events, leads, outbox, settings, suppressions

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
FENCE = re.compile(r"^ *```sql\n(.*?)^ *```$", re.M | re.S)


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def statements(title: str) -> list[str]:
    """The SQL statements of a section's ```sql blocks (a block may hold several)."""
    out = []
    for block in FENCE.findall(section(title)):
        out += [s.strip() for s in block.split(";") if s.strip()]
    return out


def for_sqlite(sql: str) -> str:
    """The substitutions docs/operations.md gives for SQLite."""
    sql = re.sub(r"now\(\) - interval '(\d+) (\w+)'", r"datetime('now', '-\1 \2')", sql)
    sql = sql.replace("now()", "datetime('now')")
    return sql.replace("payload->>'team'", "json_extract(payload, '$.team')")


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    engine = db.connect(db_url)
    yield engine
    engine.dispose()


def seed(store: sa.Engine) -> dict[str, int]:
    """A store as production leaves it: one row of each kind the queries look for."""
    now = dt.datetime.now(dt.UTC)
    ago = {name: now - delta for name, delta in {
        "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1),
        "days": dt.timedelta(days=3), "minutes": dt.timedelta(minutes=30)}.items()}
    ids: dict[str, int] = {}
    with db.write_transaction(store) as conn:
        lead = conn.execute(leads.insert().values(
            email="sato@example.co.jp", created_at=ago["days"], updated_at=ago["days"])
            .returning(leads.c.id)).scalar_one()
        enrollment = conn.execute(enrollments.insert().values(
            flow="revive_dormant", version=1, lead_id=lead, step="intro", state="waiting",
            entered_at=ago["days"], updated_at=ago["days"]).returning(enrollments.c.id)
            ).scalar_one()
        rows: dict[str, dict[str, Any]] = {
            "sent": {"status": "sent", "sent_at": ago["day"]},
            "stuck": {"status": "pending", "next_attempt_at": ago["hour"]},
            "later": {"status": "deferred", "next_attempt_at": now + dt.timedelta(hours=12),
                      "reason": "outside the sending window"},
            "unknown": {"status": "unknown", "reason": "no reply after the final dot"},
            "failed": {"status": "failed", "reason": "550 5.1.1 user unknown"},
            "claimed": {"status": "claimed", "lease_until": ago["minutes"]},
            "handoff": {"status": "deferred", "action": "handoff",
                        "payload": {"team": "inside_sales", "rank": 3, "per_day": 40}},
        }
        for n, (name, values) in enumerate(rows.items()):
            row = {"flow": "revive_dormant", "enrollment_id": enrollment, "step": "intro",
                   "occurrence": str(n), "lead_id": lead, "flow_version": 1, "action": "send",
                   "template": "dormant/intro.html", "message_id": f"<{name}@mail.example.co.jp>",
                   "next_attempt_at": ago["day"], "created_at": ago["day"],
                   "updated_at": ago["hour"], **values}
            ids[name] = conn.execute(outbox.insert().values(**row).returning(outbox.c.id)
                                     ).scalar_one()
        conn.execute(suppressions.insert().values(
            email_hash=email_hash("gone@example.co.jp"), reason="bounce", scope="global",
            source="smtp", created_at=ago["day"]))
        conn.execute(audit.insert().values(at=ago["hour"], actor="engine",
                                           action="delivery.unknown", subject="<unknown@x>"))
        conn.execute(events.insert(), [
            {"lead_id": lead, "type": "email_click", "occurred_at": ago["hour"],
             "source": "tracking", "machine": machine} for machine in (True, None)])
        conn.execute(settings.insert().values(key="tick:revive_dormant",
                                              value=ago["day"].isoformat(), created_at=now))
    return ids


def run(store: sa.Engine, sql: str) -> list[tuple[Any, ...]]:
    if store.dialect.name == "sqlite":
        sql = for_sqlite(sql)
    with store.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def query(store: sa.Engine, marker: str) -> list[tuple[Any, ...]]:
    """The result of the one monitoring query containing ``marker``."""
    [sql] = [s for s in statements("Monitoring") if marker in s]
    return run(store, sql)


def test_every_monitoring_query_runs_and_finds_its_rows(store: sa.Engine) -> None:
    ids = seed(store)
    every = statements("Monitoring")
    assert len(every) >= 10
    for sql in every:
        run(store, sql)  # each one runs as written (or as translated for SQLite)

    [(flow, last_tick)] = query(store, "LIKE 'tick:%'")
    assert flow == "tick:revive_dormant" and dt.datetime.fromisoformat(last_tick).tzinfo
    [(waiting, _due, _oldest)] = query(store, "interval '15 minutes'")
    assert waiting == 1  # the stuck pending row; not the one deferred to later, not the handoff
    assert query(store, "status = 'unknown'")[0][:2] == (ids["unknown"],
                                                        "<unknown@mail.example.co.jp>")
    assert query(store, "lease_until < now()") == [("claimed", 1)]
    assert query(store, "AS bounced") == [(1, 1)]
    assert query(store, "payload->>'team' AS team") == [("inside_sales", 1)]
    assert query(store, "FILTER (WHERE machine)")[0][:3] == ("email_click", 2, 1)
    assert query(store, "LIKE 'delivery.%'")[0][1] == "delivery.unknown"
    assert ("550 5.1.1 user unknown", 1) in query(store, "status = 'failed'")
    deferred = query(store, "status = 'deferred' GROUP BY reason")
    assert ("outside the sending window", 1) in deferred


def test_the_restore_procedure_settles_the_outbox_with_the_relay_log(store: sa.Engine) -> None:
    ids = seed(store)
    [update] = statements("Backups")
    with db.write_transaction(store) as conn:
        conn.execute(sa.text(update))
    with store.connect() as conn:
        status = dict(conn.execute(sa.select(outbox.c.id, outbox.c.status)).all())
    assert {status[ids[n]] for n in ("stuck", "later", "claimed", "unknown")} == {"unknown"}
    assert (status[ids["sent"]], status[ids["failed"]], status[ids["handoff"]]) == (
        "sent", "failed", "deferred")  # settled rows and hand-offs are left alone

    in_relay_log = {"<stuck@mail.example.co.jp>"}
    counts = reconcile_unknown(store, lambda message_id: message_id in in_relay_log)
    assert counts["sent"] == 1 and counts["pending"] == 3
    with store.connect() as conn:
        status = dict(conn.execute(sa.select(outbox.c.id, outbox.c.status)).all())
    assert status[ids["stuck"]] == "sent"
    assert {status[ids[n]] for n in ("later", "claimed", "unknown")} == {"pending"}

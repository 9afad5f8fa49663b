"""The policy gate and the suppression checks at claim and just before DATA (I7, T-W5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import block, defer, deliver_due
from engine.store.emails import email_hash
from engine.store.schema import suppressions
from tests.engine.delivery.helpers import TinyBuilder, TinyBuilt, options, rows, seed, utcnow
from tests.engine.delivery.sink import FaultSink


def suppress(engine: sa.Engine, email: str, reason: str = "unsubscribe") -> None:
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(email_hash=email_hash(email), reason=reason,
                                                  created_at=utcnow()))


def test_default_gate_checks_suppressions_and_consent(store: sa.Engine, sink: FaultSink,
                                                      smtp_settings: Settings) -> None:
    ids = seed(store, ["ok@example.com", "gone@example.com"])
    [no_consent] = seed(store, ["maybe@example.com"], consent=None)
    [to_owner] = seed(store, ["maybe@example.com"], action="notify",
                      payload={"channel": "email", "to": "owner@example.co.jp"})
    suppress(store, "GONE@example.com")  # normalised: the same address
    deliver_due(store, smtp_settings, build=TinyBuilder(), worker=options())
    state = rows(store)
    assert state[ids[0]]["status"] == "sent" and state[ids[1]]["status"] == "suppressed"
    assert state[no_consent]["status"] == "suppressed" and "consent" in state[no_consent]["reason"]
    assert state[to_owner]["status"] == "sent"  # a notification needs no lead consent
    assert sorted(r.recipient for r in sink.received) == ["ok@example.com",
                                                          "owner@example.co.jp"]


def test_an_unsubscribe_between_claim_and_data_stops_the_send(
        store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-W5: the suppression lands after the claim-time check; the pre-DATA check sees it."""
    [row_id] = seed(store, ["late@example.com"])
    plain = TinyBuilder()

    def build(row: Any, lead: Any) -> TinyBuilt:
        suppress(store, "late@example.com")  # the one-click POST commits while we render
        return plain(row, lead)

    report = deliver_due(store, smtp_settings, build=build, worker=options())
    assert rows(store)[row_id]["status"] == "suppressed"
    assert "before DATA" in rows(store)[row_id]["reason"]
    assert report.counts["suppressed"] == 1 and sink.received == []


@dataclass(frozen=True)
class RuntimeStyleVerdict:
    """The shape engine.runtime.gate answers with."""

    status: str
    until: datetime | None = None
    reason: str | None = None


def test_custom_gates_defer_and_block_without_spending_attempts(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    ids = seed(sqlite_store, ["night@example.com", "capped@example.com", "never@example.com",
                              "go@example.com"])
    morning = utcnow() + timedelta(hours=8)
    seen: list[int] = []

    def gate(conn: sa.Connection, claimed: Any, now: datetime) -> dict[int, Any]:
        seen.extend(r.id for r in claimed)  # rows read as attributes too
        return {ids[0]: defer(morning, "quiet hours"),
                ids[1]: RuntimeStyleVerdict("deferred", morning, "2 emails per 7 days"),
                ids[2]: block("never email when stage is opportunity"),
                ids[3]: RuntimeStyleVerdict("pending")}

    deliver_due(sqlite_store, smtp_settings, build=TinyBuilder(), gate=gate, worker=options())
    state = rows(sqlite_store)
    assert [state[i]["status"] for i in ids] == ["deferred", "deferred", "suppressed", "sent"]
    assert state[ids[0]]["attempts"] == 0 and state[ids[0]]["next_attempt_at"] == morning
    assert "quiet hours" in state[ids[0]]["reason"]
    assert sorted(seen) == ids
    assert [r.recipient for r in sink.received] == ["go@example.com"]


def test_claim_time_suppression_applies_whatever_the_gate(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings,
        tmp_path: Path) -> None:
    [row_id] = seed(sqlite_store, ["gone@example.com"])
    suppress(sqlite_store, "gone@example.com", "bounce")
    deliver_due(sqlite_store, smtp_settings, build=TinyBuilder(),
                gate=lambda conn, claimed, now: {}, worker=options())
    assert rows(sqlite_store)[row_id]["status"] == "suppressed" and sink.received == []


def test_rows_older_than_the_max_age_fail_unsent(sqlite_store: sa.Engine, sink: FaultSink,
                                                 smtp_settings: Settings) -> None:
    [row_id] = seed(sqlite_store, ["old@example.com"], at=utcnow() - timedelta(days=4))
    deliver_due(sqlite_store, smtp_settings, build=TinyBuilder(), worker=options())
    assert rows(sqlite_store)[row_id]["status"] == "failed" and sink.received == []

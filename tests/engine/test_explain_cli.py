"""`engine explain`: why a lead is (or is not) in each flow, with values and score events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.store.db import connect
from tests.engine.conditions_data import FLOWS, Lead, T, seed

DAY = dt.timedelta(days=1)
POLICY = """
policy:
    never email when stage in ("opportunity", "negotiation")
"""


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> tuple[str, str]:
    people = [
        Lead({"stage": "lead", "employees": 50, "title": "営業部長"}, custom={"vip": True},
             events=[{"type": "page_view", "occurred_at": T - 10 * DAY, "url": "/pricing"},
                     {"type": "email_click", "occurred_at": T - DAY, "flow": "nurture",
                      "step": "intro"},
                     {"type": "page_view", "occurred_at": T + DAY, "url": "/pricing"}]),
        Lead({"stage": None}),
    ]
    engine = connect(db_url)
    with engine.begin() as conn:
        seed(conn, people)
    engine.dispose()
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "definitions.flow").write_text(FLOWS + POLICY, encoding="utf-8")
    return db_url, str(flows)


def run(store: tuple[str, str], email: str, *args: str) -> tuple[int, str]:
    url, flows = store
    result = CliRunner().invoke(main, ["explain", email, flows, "--db", url,
                                       "--at", T.isoformat(), *args])
    return result.exit_code, result.output


def test_conditions_with_values(store: tuple[str, str]) -> None:
    code, out = run(store, "LEAD1@example.com")
    assert code == 0, out
    assert "Lead lead1@example.com (id 1) at 2026-11-23T10:00:00+00:00" in out
    assert "flow nurture" in out
    assert 'true  enter when: stage is "lead"  stage = "lead"' in out
    assert "false goal when: interest >= 30 or plain >= 3" in out
    assert "interest >= 30  interest = 7.799" in out
    assert 'policy: never email when: stage in ("opportunity", "negotiation")' in out


def test_score_breakdown_shows_events_weights_and_decay(store: tuple[str, str]) -> None:
    code, out = run(store, "lead1@example.com")
    assert "score interest = 7.799, half-life 10 days" in out
    assert "2026-11-13 10:00:00" in out and "0.5000" in out  # 10 days old: half
    assert "2026-11-22 10:00:00" in out and "0.9330" in out
    assert "2026-11-24" not in out  # after T: does not exist yet
    assert "score plain = -2" in out and "-3 when vip = true" in out


def test_unknown_values_are_shown(store: tuple[str, str]) -> None:
    code, out = run(store, "lead2@example.com")
    assert code == 0
    assert 'false enter when: stage is "lead"  stage = unknown' in out


def test_json(store: tuple[str, str]) -> None:
    code, out = run(store, "lead1@example.com", "--format", "json")
    doc = json.loads(out)
    assert doc["lead"] == {"id": 1, "email": "lead1@example.com"}
    flow = doc["flows"][0]
    assert flow["flow"] == "nurture"
    goal = next(s for s in flow["sections"] if s["label"] == "goal when")
    assert goal["value"] is False and goal["children"][0]["facts"] == ["interest = 7.799"]
    lines = doc["scores"]["interest"]["lines"]
    assert [round(ln["decay"], 4) for ln in lines if ln["event"]] == [0.933, 0.5]


def test_no_such_lead_or_flow(store: tuple[str, str]) -> None:
    code, out = run(store, "nobody@example.com")
    assert code == 1 and "no lead with email nobody@example.com" in out
    code, out = run(store, "lead1@example.com", "--flow", "missing")
    assert code == 2 and "no flow named 'missing'" in out


def suppress(url: str, email: str, reason: str, source: str) -> None:
    from engine.store.emails import email_hash
    from engine.store.schema import suppressions

    engine = connect(url)
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(
            email_hash=email_hash(email), reason=reason, source=source, created_at=T - DAY))
    engine.dispose()


def test_the_mail_policy_says_why_no_email_would_go(store: tuple[str, str]) -> None:
    """A suppressed address: the suppression (reason, since when, where from) and the gate's
    verdict on an email due now; an address without one may be mailed."""
    suppress(store[0], "LEAD1@example.com", "unsubscribe", "tracking")
    code, out = run(store, "lead1@example.com")
    assert code == 0, out
    assert "mail policy" in out
    assert "suppressed unsubscribe since 2026-11-22T10:00:00+00:00" in out and "tracking" in out
    assert "an email due now: blocked: suppressed (unsubscribe)" in out
    code, out = run(store, "lead2@example.com")
    assert "no suppression on this address" in out and "consent: unknown" in out
    assert "an email due now: may go" in out
    doc = json.loads(run(store, "lead1@example.com", "--format", "json")[1])
    assert doc["policy"]["suppressions"] == [{
        "reason": "unsubscribe", "scope": "global", "source": "tracking", "note": None,
        "created_at": "2026-11-22T10:00:00+00:00"}]
    assert doc["policy"]["email_due_now"] == {
        "status": "suppressed", "reason": "suppressed (unsubscribe)", "until": None}


def test_the_mail_policy_shows_the_window_and_the_caps(store: tuple[str, str],
                                                       tmp_path: Path) -> None:
    """Outside the sending window (T is 19:00 in Tokyo on a public holiday): deferred to the
    next business morning; a send inside the cap's period is counted."""
    from engine.store.schema import enrollments, outbox

    url, _ = store
    flows = tmp_path / "windowed"
    flows.mkdir()
    (flows / "definitions.flow").write_text(FLOWS + """
policy:
    at most 1 emails per lead per 7 days
    send between 09:00 and 18:00 on business days in lead time zone, default "Asia/Tokyo"
    skip public holidays
""", encoding="utf-8")
    engine = connect(url)
    with engine.begin() as conn:
        enrollment = conn.execute(enrollments.insert().values(
            flow="nurture", version=1, lead_id=1, step="intro", state="waiting",
            entered_at=T - 2 * DAY, updated_at=T - 2 * DAY).returning(enrollments.c.id)
        ).scalar_one()
        conn.execute(outbox.insert().values(
            flow="nurture", enrollment_id=enrollment, step="intro", occurrence="1", lead_id=1,
            flow_version=1, action="send", template="intro.html", status="sent",
            sent_at=T - 2 * DAY, next_attempt_at=T - 2 * DAY, created_at=T - 2 * DAY,
            updated_at=T - 2 * DAY))
    engine.dispose()
    code, out = run((url, str(flows)), "lead1@example.com")
    assert code == 0, out
    # Tuesday 09:00 in Tokyo
    assert "an email due now: deferred until 2026-11-24T00:00+00:00: outside the sending " \
        "window (09:00-18:00 on business days, Asia/Tokyo)" in out, out
    assert "at most 1 emails per lead per 7 days: 1 used" in out
    doc = json.loads(run((url, str(flows)), "lead2@example.com", "--format", "json")[1])
    assert doc["policy"]["caps"] == [{"rule": "at most 1 emails per lead per 7 days",
                                      "used": 0, "allowed": 1}]
    assert doc["policy"]["email_due_now"]["status"] == "deferred"
    assert doc["policy"]["email_due_now"]["reason"].startswith("outside the sending window")

"""`POST /hooks/events`: the relay's signed bounce and complaint reports (RELIABILITY T-H11).

A signed hard bounce or complaint suppresses the address and stops its queued sends; soft
bounces, deferrals and deliveries are only recorded; unsigned, badly signed and stale requests
change nothing; a report delivered twice acts once; one bad item refuses the whole batch; remote
reason text is stored cleaned and shown escaped."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.config import Settings
from engine.store.emails import email_hash
from engine.store.schema import audit, outbox, suppressions, webhook_events
from engine.track import create_app
from engine.track.hooks import (
    MAX_REASON,
    BadEvent,
    clean_reason,
    parse_event,
    signature,
    signature_problem,
)
from engine.track.settings import TrackSettings
from tests.engine.track.conftest import (
    NO_RATE_LIMITS,
    SECRET,
    SITE,
    Clock,
    TestClient,
    queue_message,
    rows,
    send_message,
    snapshot,
)
from tests.engine.track.live import LiveServer

HOOK_SECRET = "hook-secret-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[3]
LIMITS = NO_RATE_LIMITS.__class__(**{**NO_RATE_LIMITS.__dict__, "other_body": 256 * 1024})
HOSTILE = '"><svg onload=alert(1)> [red]markup[/red] \x1b[31mred\x1b[0m \u202eevil\u202c'


def hook_app(engine: sa.Engine, clock: Clock, secret: str | None = HOOK_SECRET) -> Any:
    settings = Settings(site_origins=(SITE,), webhook_secret=secret)
    track = TrackSettings(site_origins=(SITE,), limits=LIMITS)
    return create_app(engine, settings, track, secret=SECRET, now=clock)


@pytest.fixture
def hooks(store: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with TestClient(hook_app(store, clock), base_url="https://t.example.co.jp") as client:
        yield client


@pytest.fixture
def lite_hooks(lite: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with TestClient(hook_app(lite, clock), base_url="https://t.example.co.jp") as client:
        yield client


def signed(body: bytes, at: datetime, secret: str = HOOK_SECRET) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    return {"content-type": "application/json", "x-engine-timestamp": stamp,
            "x-engine-signature": "sha256=" + signature(secret.encode(), stamp, body)}


def post(client: Any, payload: object, clock: Clock, **headers: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    return client.post("/hooks/events", content=body,
                       headers={**signed(body, clock()), **headers})


def message_id_of(engine: sa.Engine, outbox_id: int, mid: str) -> str:
    with engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == outbox_id).values(message_id=mid))
    return mid


def event(kind: str, email: str, event_id: str, **more: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "email": email, **more}


def suppression_reasons(engine: sa.Engine, email: str) -> list[str]:
    return [r["reason"] for r in rows(engine, suppressions,
                                      suppressions.c.email_hash == email_hash(email))]


def statuses(engine: sa.Engine, *ids: int) -> list[str]:
    return [r["status"] for r in rows(engine, outbox, outbox.c.id.in_(ids))]


# ---------------------------------------------------------------- effects


def test_a_signed_hard_bounce_suppresses_and_stops_queued_mail(
        hooks: TestClient, store: sa.Engine, clock: Clock) -> None:
    sent = send_message(store)
    mid = message_id_of(store, sent.outbox_id, "<abc123@mail.example.co.jp>")
    queued = [queue_message(store, sent.lead_id), queue_message(store, sent.lead_id, "deferred")]
    claimed = queue_message(store, sent.lead_id, "claimed")  # the worker's: its own check stops it
    other = send_message(store)
    other_queued = queue_message(store, other.lead_id)
    answer = post(hooks, event("bounce", sent.email.upper(), "ev-1", bounce="5.1.1",
                               message_id=mid, reason="550 5.1.1 user unknown",
                               timestamp="2026-11-24T00:59:00+00:00"), clock)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "new": 1, "duplicates": 0, "ignored": 0,
                             "suppressed": 1, "stopped_sends": 2, "reconciled": 0}
    assert suppression_reasons(store, sent.email) == ["bounce"]
    assert statuses(store, *queued) == ["suppressed", "suppressed"]
    assert [r["reason"] for r in rows(store, outbox, outbox.c.id.in_(queued))] == ["bounced"] * 2
    assert statuses(store, claimed, other_queued) == ["claimed", "pending"]
    assert suppression_reasons(store, other.email) == []
    [row] = rows(store, outbox, outbox.c.id == sent.outbox_id)
    assert row["status"] == "sent"  # a later bounce does not unsend it
    assert row["reason"] == "bounce hard 5.1.1 (reported by relay): 550 5.1.1 user unknown"
    [record] = rows(store, webhook_events)
    assert (record["source"], record["event_id"], record["kind"], record["severity"],
            record["status"], record["outbox_id"], record["effect"]) == \
        ("relay", "ev-1", "bounce", "hard", "5.1.1", sent.outbox_id, "suppressed")
    assert record["email_hash"] == email_hash(sent.email)
    assert record["occurred_at"] == datetime(2026, 11, 24, 0, 59, tzinfo=UTC)
    [entry] = rows(store, audit, audit.c.action == "suppression.add")
    assert entry["subject"] == email_hash(sent.email) and entry["details"]["reason"] == "bounce"


def test_a_complaint_suppresses_and_stops_queued_mail(hooks: TestClient, store: sa.Engine,
                                                      clock: Clock) -> None:
    sent = send_message(store)
    queued = queue_message(store, sent.lead_id)
    answer = post(hooks, [event("complaint", sent.email, "fbl-77")], clock)
    assert answer.status_code == 200 and answer.json()["suppressed"] == 1
    assert suppression_reasons(store, sent.email) == ["complaint"]
    assert statuses(store, queued) == ["suppressed"]
    assert rows(store, outbox, outbox.c.id == queued)[0]["reason"] == "complained"


@pytest.mark.parametrize("bounce", ["soft", "4.2.2", "5.2.2", "5.7.26", "4.7.0"])
def test_soft_bounces_are_recorded_and_never_suppress(lite_hooks: TestClient, lite: sa.Engine,
                                                      clock: Clock, bounce: str) -> None:
    """A full mailbox, a policy refusal, a greylisting or a vacation reply classed soft: the
    address stays mailable (listmonk#1334); the report is kept."""
    sent = send_message(lite)
    queued = queue_message(lite, sent.lead_id)
    answer = post(lite_hooks, event("bounce", sent.email, "soft-1", bounce=bounce,
                                    reason="Auto-Reply: I am on vacation until Monday"), clock)
    assert answer.status_code == 200 and answer.json()["suppressed"] == 0
    assert suppression_reasons(lite, sent.email) == [] and statuses(lite, queued) == ["pending"]
    [record] = rows(lite, webhook_events)
    assert (record["severity"], record["effect"]) == ("soft", "recorded")


def test_delivered_and_deferred_are_recorded_and_settle_an_unknown_row(
        lite_hooks: TestClient, lite: sa.Engine, clock: Clock) -> None:
    lost = send_message(lite, status="unknown")  # the reply to the final dot was lost
    mid = message_id_of(lite, lost.outbox_id, "<lost@mail.example.co.jp>")
    later = send_message(lite)
    later_mid = message_id_of(lite, later.outbox_id, "<later@mail.example.co.jp>")
    answer = post(lite_hooks, [event("delivered", lost.email, "d-1", message_id=mid),
                               event("deferred", later.email, "d-2", message_id=later_mid,
                                     reason="451 4.7.1 greylisted")], clock)
    assert answer.json()["reconciled"] == 1 and answer.json()["suppressed"] == 0
    [row] = rows(lite, outbox, outbox.c.id == lost.outbox_id)
    assert row["status"] == "sent" and row["sent_at"] == clock()
    assert row["reason"] == "reconciled: delivered (reported by relay)"
    assert rows(lite, outbox, outbox.c.id == later.outbox_id)[0]["reason"] == \
        "deferred (reported by relay): 451 4.7.1 greylisted"
    assert rows(lite, suppressions) == []
    assert [r["kind"] for r in rows(lite, webhook_events)] == ["delivered", "deferred"]


def test_sendgrid_event_webhook_items(lite_hooks: TestClient, lite: sa.Engine,
                                      clock: Clock) -> None:
    hard, blocked, spam, fine = (send_message(lite) for _ in range(4))
    mid = message_id_of(lite, hard.outbox_id, "<sg1@mail.example.co.jp>")
    batch = [
        {"sg_event_id": "sg-1", "event": "bounce", "type": "bounce", "status": "5.1.1",
         "email": hard.email, "smtp-id": mid, "reason": "550 5.1.1 no such user",
         "timestamp": 1795482000},
        {"sg_event_id": "sg-2", "event": "bounce", "type": "blocked", "email": blocked.email,
         "reason": "421 try later"},
        {"sg_event_id": "sg-3", "event": "spamreport", "email": spam.email},
        {"sg_event_id": "sg-4", "event": "delivered", "email": fine.email,
         "response": "250 OK", "smtp-id": "not a message id"},
        {"sg_event_id": "sg-5", "event": "open", "email": fine.email, "useragent": "x"},
        {"sg_event_id": "sg-6", "event": "processed", "email": fine.email},
    ]
    answer = post(lite_hooks, batch, clock)
    assert answer.json() == {"received": 6, "new": 4, "duplicates": 0, "ignored": 2,
                                  "suppressed": 2, "stopped_sends": 0, "reconciled": 0}
    assert suppression_reasons(lite, hard.email) == ["bounce"]
    assert suppression_reasons(lite, spam.email) == ["complaint"]
    assert suppression_reasons(lite, blocked.email) == suppression_reasons(lite, fine.email) == []
    records = {r["event_id"]: r for r in rows(lite, webhook_events)}
    assert set(records) == {"sg-1", "sg-2", "sg-3", "sg-4"}
    assert {r["source"] for r in records.values()} == {"sendgrid"}
    assert (records["sg-1"]["outbox_id"], records["sg-1"]["severity"]) == (hard.outbox_id, "hard")
    assert records["sg-2"]["severity"] == "soft" and records["sg-4"]["outbox_id"] is None
    assert records["sg-1"]["occurred_at"] == datetime.fromtimestamp(1795482000, UTC)


# ---------------------------------------------------------------- authenticity


def test_unsigned_and_badly_signed_requests_change_nothing(lite_hooks: TestClient,
                                                            lite: sa.Engine, clock: Clock) -> None:
    sent = send_message(lite)
    before = snapshot(lite)
    body = json.dumps(event("complaint", sent.email, "forged")).encode()
    good = signed(body, clock())
    stamp = good["x-engine-timestamp"]
    attempts: list[dict[str, Any]] = [
        {"content-type": "application/json"},  # unsigned
        {**good, "x-engine-signature": ""},
        {k: v for k, v in good.items() if k != "x-engine-timestamp"},
        {**good, "x-engine-signature": "sha256=" + "0" * 64},
        {**good, "x-engine-signature": good["x-engine-signature"][:-1]},  # truncated
        {**good, "x-engine-signature": "sha256=" + signature(b"another-secret-0123456789",
                                                             stamp, body)},
        {**good, "x-engine-timestamp": str(int(stamp) + 1)},  # the timestamp is signed too
        {**good, "x-engine-timestamp": "-" + stamp},
        {**good, "x-engine-signature": "sha256=ünïcode".encode("latin-1")},
    ]
    for headers in attempts:
        answer = lite_hooks.post("/hooks/events", content=body, headers=headers)
        assert answer.status_code == 403, (headers, answer.text)
        assert "forged" not in answer.text
    tampered = body.replace(b"complaint", b"delivered")
    answer = lite_hooks.post("/hooks/events", content=tampered, headers=good)
    assert answer.status_code == 403 and answer.text == "bad signature"
    assert snapshot(lite) == before and rows(lite, webhook_events) == []
    # The same body, correctly signed, is accepted: the refusals above were for the signature.
    assert lite_hooks.post("/hooks/events", content=body, headers=good).status_code == 200


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_a_stale_or_future_timestamp_is_refused(lite_hooks: TestClient, lite: sa.Engine,
                                                clock: Clock, skew: int) -> None:
    """A captured request replayed later (or signed with a clock far ahead) is refused, even
    with a valid signature; within five minutes either way it is accepted."""
    sent = send_message(lite)
    body = json.dumps(event("complaint", sent.email, f"replay{skew}")).encode()
    answer = lite_hooks.post("/hooks/events", content=body,
                             headers=signed(body, clock() + timedelta(seconds=skew)))
    assert answer.status_code == 403 and answer.text == "stale timestamp"
    assert rows(lite, webhook_events) == [] and suppression_reasons(lite, sent.email) == []
    inside = timedelta(seconds=299 if skew > 0 else -299)
    near = lite_hooks.post("/hooks/events", content=body, headers=signed(body, clock() + inside))
    assert near.status_code == 200


def test_without_a_webhook_secret_the_endpoint_does_not_exist(lite: sa.Engine,
                                                              clock: Clock) -> None:
    sent = send_message(lite)
    before = snapshot(lite)
    with TestClient(hook_app(lite, clock, secret=None)) as client:
        for secret in (HOOK_SECRET, ""):
            body = json.dumps(event("complaint", sent.email, "x")).encode()
            answer = client.post("/hooks/events", content=body, headers=signed(body, clock(),
                                                                                secret or "x"))
            assert answer.status_code == 404
    assert snapshot(lite) == before and rows(lite, webhook_events) == []


def test_signature_checks_are_pure() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    stamp = str(int(now.timestamp()))
    key = HOOK_SECRET.encode()
    good = signature(key, stamp, b"{}")
    assert signature_problem(key, stamp, good, b"{}", now) is None
    assert signature_problem(key, stamp, "SHA256=" + good.upper(), b"{}", now) is None
    assert signature_problem(key, None, good, b"{}", now) == "signature required"
    assert signature_problem(key, "１２３", good, b"{}", now) == "bad signature"  # not ASCII
    assert signature_problem(key, "9" * 13, good, b"{}", now) == "bad signature"
    assert signature_problem(key, stamp, good, b"{} ", now) == "bad signature"
    assert signature_problem(key, stamp, good, b"{}", now + timedelta(seconds=301)) == \
        "stale timestamp"


# ---------------------------------------------------------------- at most once, all or nothing


def test_the_same_event_twice_acts_once(hooks: TestClient, store: sa.Engine,
                                        clock: Clock) -> None:
    sent = send_message(store)
    bounce = event("bounce", sent.email, "ev-dup", bounce="hard", reason="550 gone")
    first = post(hooks, [bounce, bounce], clock)  # repeated within one batch, too
    assert first.json()["new"] == 1 and first.json()["duplicates"] == 1
    after_first = snapshot(store)
    later = queue_message(store, sent.lead_id)  # a re-delivered report must not touch it
    clock.advance(minutes=10)
    second = post(hooks, bounce, clock)
    assert second.status_code == 200
    assert second.json() == {"received": 1, "new": 0, "duplicates": 1, "ignored": 0,
                                  "suppressed": 0, "stopped_sends": 0, "reconciled": 0}
    now = snapshot(store)
    assert now["suppressions"] == after_first["suppressions"]
    assert now["audit"] == after_first["audit"]
    assert statuses(store, later) == ["pending"]  # the worker's own check stops it (I7)
    assert len(rows(store, webhook_events)) == 1
    # Another source may reuse the id: it is another event.
    third = post(hooks, {**bounce, "source": "postfix"}, clock)
    assert third.json()["new"] == 1 and len(rows(store, webhook_events)) == 2


def test_two_server_processes_given_the_same_report_act_once(pg_database: str,
                                                             clock: Clock) -> None:
    """ESPs retry on timeouts, and a load balancer may hand the retry to another process:
    both insert-or-ignore the same (source, id) on PostgreSQL; one wins, once."""
    from engine.store import db

    engine = db.connect(pg_database)
    try:
        sent = send_message(engine)
        bounce = event("complaint", sent.email, "race-1")
        answers: list[int] = []
        with TestClient(hook_app(engine, clock)) as a, TestClient(hook_app(engine, clock)) as b:
            def hammer(client: TestClient) -> None:
                for _ in range(5):
                    answers.append(post(client, bounce, clock).json()["new"])

            threads = [threading.Thread(target=hammer, args=(c,)) for c in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        assert sorted(answers) == [0] * 9 + [1]
        assert len(rows(engine, webhook_events)) == 1
        assert len(rows(engine, audit, audit.c.action == "suppression.add")) == 1
    finally:
        engine.dispose()


BAD_ITEMS = [
    ("not an object", "event 1: expected an object"),
    ({"id": "x", "type": "bounced", "email": "a@example.com"}, "event 1: type"),
    ({"id": "x", "type": "bounce", "email": "a@example.com"}, "event 1: bounce"),
    ({"id": "x", "type": "bounce", "email": "a@example.com", "bounce": "2.0.0"}, "event 1: bounce"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "bounce": "hard"},
     "event 1: bounce"),
    ({"id": "", "type": "complaint", "email": "a@example.com"}, "event 1: id"),
    ({"id": "a b", "type": "complaint", "email": "a@example.com"}, "event 1: id"),
    ({"id": "x" * 201, "type": "complaint", "email": "a@example.com"}, "event 1: id"),
    ({"id": "x", "type": "complaint", "email": "not-an-address"}, "event 1: email"),
    ({"id": "x", "type": "complaint", "email": "a@b.com\r\nBcc: c@d.com"}, "event 1: email"),
    ({"id": "x", "type": "complaint", "email": ["a@example.com"]}, "event 1: email"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "message_id": "<a b>"},
     "event 1: message_id"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "timestamp": "yesterday"},
     "event 1: timestamp"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "timestamp": 1e300},
     "event 1: timestamp"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "timestamp": True},
     "event 1: timestamp"),
    ({"id": "x", "type": "complaint", "email": "a@example.com",
      "timestamp": "2026-11-24T09:00:00"}, "event 1: timestamp"),  # no time zone
    ({"id": "x", "type": "complaint", "email": "a@example.com", "reason": 42}, "event 1: reason"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "source": "Bad Source"},
     "event 1: source"),
    ({"id": "x", "type": "complaint", "email": "a@example.com", "status": "550"},
     "event 1: status"),
    ({"sg_event_id": "x", "event": "bounce", "email": "nobody"}, "event 1: email"),
    ({"sg_event_id": 1.5, "event": "bounce", "email": "a@example.com"}, "event 1: sg_event_id"),
]


@pytest.mark.parametrize(("bad", "named"), BAD_ITEMS)
def test_a_batch_with_a_malformed_item_is_refused_whole(lite_hooks: TestClient, lite: sa.Engine,
                                                        clock: Clock, bad: object,
                                                        named: str) -> None:
    sent = send_message(lite)
    queued = queue_message(lite, sent.lead_id)
    before = snapshot(lite)
    answer = post(lite_hooks, [event("complaint", sent.email, "good-1"), bad,
                               event("bounce", sent.email, "good-2", bounce="hard")], clock)
    assert answer.status_code == 400 and answer.text.startswith(named), answer.text
    assert "a@b.com" not in answer.text and "not-an-address" not in answer.text  # no echo
    assert snapshot(lite) == before and rows(lite, webhook_events) == []
    assert statuses(lite, queued) == ["pending"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"[NaN]", b"\xff\xfe",
                                  b"[" * 5000 + b"]" * 5000,
                                  json.dumps([{"id": str(i)} for i in range(1001)]).encode()])
def test_bodies_that_are_not_a_batch(lite_hooks: TestClient, lite: sa.Engine, clock: Clock,
                                     body: bytes) -> None:
    answer = lite_hooks.post("/hooks/events", content=body, headers=signed(body, clock()))
    assert answer.status_code == 400
    assert rows(lite, webhook_events) == []


def test_wrong_type_and_oversized_bodies(lite: sa.Engine, clock: Clock) -> None:
    small = TrackSettings(site_origins=(SITE,),
                          limits=replace(NO_RATE_LIMITS, hook_body=1024))  # hook_body: 1 KB
    app = create_app(lite, Settings(webhook_secret=HOOK_SECRET), small, secret=SECRET, now=clock)
    with TestClient(app) as client:
        body = json.dumps([event("delivered", f"a{i}@example.com", f"e{i}")
                           for i in range(40)]).encode()
        assert len(body) > 1024
        assert client.post("/hooks/events", content=body,
                           headers=signed(body, clock())).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield body

        assert client.post("/hooks/events", content=chunks(),
                           headers=signed(body, clock())).status_code == 413
        form = b"id=1"
        assert client.post("/hooks/events", content=form, headers={
            **signed(form, clock()), "content-type": "application/x-www-form-urlencoded"}
        ).status_code == 415
        assert client.get("/hooks/events").status_code == 405
    assert rows(lite, webhook_events) == []


# ---------------------------------------------------------------- untrusted text


def test_hostile_reason_text_is_stored_clean_and_shown_escaped(
        lite_hooks: TestClient, lite: sa.Engine, clock: Clock) -> None:
    sent = send_message(lite)
    mid = message_id_of(lite, sent.outbox_id, "<hostile@mail.example.co.jp>")
    reason = f"550 5.1.1 <{sent.email}> {HOSTILE} " + "x" * 20_000  # a whole bounce message
    answer = post(lite_hooks, event("bounce", sent.email, '"><svg/onload=alert(1)>',
                                    bounce="hard", message_id=mid, reason=reason), clock)
    assert answer.status_code == 200
    assert "svg" not in answer.text and "x" * 50 not in answer.text  # nothing echoed back
    [record] = rows(lite, webhook_events)
    stored = record["reason"]
    assert stored.startswith('550 5.1.1 <<recipient>> "><svg onload=alert(1)> [red]markup[/red]')
    assert sent.email not in stored and len(stored) == MAX_REASON and stored.endswith("…")
    assert not any(ch < " " or ch in "\x7f\u202e\u202c" for ch in stored)
    note = rows(lite, outbox, outbox.c.id == sent.outbox_id)[0]["reason"]
    assert '"><svg onload=alert(1)>' in note and "\x1b" not in note and len(note) <= MAX_REASON

    # engine explain shows it as text: the markup is printed, not interpreted, and no escape
    # sequence reaches the terminal; --format json carries the exact stored text.
    url = str(lite.url)
    runner = CliRunner()
    text = runner.invoke(main, ["explain", sent.email, str(ROOT / "flows"), "--db", url,
                                "--flow", "revive_dormant"])
    assert text.exit_code == 0, text.output
    shown = " ".join(text.output.split())  # the console wraps long lines
    assert 'bounce hard (reported by relay): 550 5.1.1 <<recipient>> "><svg ' \
        'onload=alert(1)> [red]markup[/red] [31mred [0m evil' in shown
    assert "\x1b" not in text.output and "\u202e" not in text.output
    doc = runner.invoke(main, ["explain", sent.email, str(ROOT / "flows"), "--db", url,
                               "--flow", "revive_dormant", "--format", "json"])
    assert doc.exit_code == 0, doc.output
    history = json.loads(doc.output)["history"]
    assert any(h.get("reason") == note for h in history)


def test_clean_reason() -> None:
    assert clean_reason(None) is None and clean_reason(" \x00\t ") is None
    assert clean_reason("a\r\nb\u2028c\x85d  e") == "a b c d e"
    assert clean_reason("Mailbox Taro@Example.CO.JP full", "taro@example.co.jp") == \
        "Mailbox <recipient> full"
    assert clean_reason("\u202egnp.exe") == "gnp.exe"
    assert len(clean_reason("y" * 10_000) or "") == MAX_REASON


def test_parse_event_classifies_codes_as_the_smtp_path_does() -> None:
    def severity(code: str) -> str | None:
        parsed = parse_event({"id": "1", "type": "bounce", "email": "a@example.com",
                              "bounce": code})
        assert parsed is not None
        return parsed.severity

    assert [severity(c) for c in ("5.1.1", "5.1.10", "5.4.4", "hard")] == ["hard"] * 4
    assert [severity(c) for c in ("5.2.2", "5.7.26", "5.5.0", "4.1.1", "soft")] == ["soft"] * 5
    with pytest.raises(BadEvent):
        parse_event({"id": "1", "type": "bounce", "email": "a@example.com", "bounce": "5.1"})
    assert parse_event({"sg_event_id": "1", "event": "group_unsubscribe",
                        "email": "a@example.com"}) is None


# ---------------------------------------------------------------- a real server


def test_over_http_on_a_real_server(lite: sa.Engine, clock: Clock) -> None:
    sent = send_message(lite)
    queued = queue_message(lite, sent.lead_id)
    with LiveServer(hook_app(lite, clock)) as server:
        body = json.dumps(event("bounce", sent.email, "live-1", bounce="5.1.1")).encode()
        unsigned = httpx.post(server.url + "/hooks/events", content=body,
                              headers={"content-type": "application/json"}, timeout=10)
        assert unsigned.status_code == 403 and statuses(lite, queued) == ["pending"]
        started = time.monotonic()
        answer = httpx.post(server.url + "/hooks/events", content=body,
                            headers=signed(body, clock()), timeout=10)
        assert answer.status_code == 200 and time.monotonic() - started < 5
        assert answer.headers["x-content-type-options"] == "nosniff"
    # Committed before the answer: visible at once from another connection.
    assert statuses(lite, queued) == ["suppressed"]
    assert suppression_reasons(lite, sent.email) == ["bounce"]

"""T-C8, the complaint-rate breaker: complaints the relay reports to `POST /hooks/events`,
counted per sending domain against the marketing mail delivered in the last 7 days. 0.1 %
warns; 0.3 % with at least 1,000 delivered pauses marketing mail from that domain (a settings
row, an audit entry, an ERROR line naming the domain); the delivery gate holds the domain's sends
with a reason naming it; `engine db resume-sending DOMAIN` lifts the pause.

Everything runs for real: the tracking app with its writer thread, the delivery worker writing to
a mail folder, the CLI through click's runner, the store on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.config import ConfigError, Settings
from engine.delivery import deliver_due
from engine.delivery.policy import WorkerOptions
from engine.runtime import breaker
from engine.runtime.breaker import Rate, Thresholds, level, sender_of, sending_domain
from engine.store import db
from engine.store.schema import audit, enrollments, leads, outbox, settings, webhook_events
from engine.track import create_app
from engine.track.settings import TrackSettings, load_track_settings, parse_thresholds
from tests.engine.track.conftest import NO_RATE_LIMITS, SECRET, SITE, T0, Clock, TestClient, rows
from tests.engine.track.test_hooks import HOOK_SECRET, event, post

DEFAULT = Settings().sender.address  # marketing@example.co.jp: the configured sender
OTHER = "news@example.com"  # a flow's own `from "news@example.com"`
HELD = "sending paused for example.co.jp since "


# ---------------------------------------------------------------- set-up


def seed(engine: sa.Engine, tag: str, count: int, at: datetime, *, status: str = "sent",
         payload: dict[str, Any] | None = None, owner: str | None = None,
         consent: bool | None = True) -> list[Msg]:
    """``count`` leads, each with one marketing message (sent at ``at``, or queued)."""
    emails = [f"{tag}{i}@client{i % 7}.example.jp" for i in range(count)]
    payload = payload or {"sender_owner": False, "sender_address": None}
    with db.write_transaction(engine) as conn:
        conn.execute(leads.insert(), [
            {"email": e, "owner": owner, "consent": consent, "created_at": at - timedelta(days=90),
             "updated_at": at} for e in emails])
        ids = dict(conn.execute(sa.select(leads.c.email, leads.c.id)
                                .where(leads.c.email.in_(emails))).all())
        conn.execute(enrollments.insert(), [
            {"flow": "news", "version": 1, "lead_id": ids[e], "step": "s", "state": "waiting",
             "entered_at": at, "updated_at": at} for e in emails])
        enrolled = dict(conn.execute(sa.select(enrollments.c.lead_id, enrollments.c.id)
                                     .where(enrollments.c.lead_id.in_(list(ids.values())))).all())
        conn.execute(outbox.insert(), [
            {"flow": "news", "enrollment_id": enrolled[ids[e]], "step": "s", "occurrence": "1",
             "lead_id": ids[e], "flow_version": 1, "action": "send", "template": "t.html",
             "payload": payload, "message_id": f"<{tag}{i}@mail.example.co.jp>",
             "status": status, "next_attempt_at": at, "created_at": at, "updated_at": at,
             "sent_at": at if status == "sent" else None} for i, e in enumerate(emails)])
        found = conn.execute(sa.select(outbox.c.id, leads.c.email, outbox.c.message_id)
                             .join(leads, leads.c.id == outbox.c.lead_id)
                             .where(leads.c.email.in_(emails))).all()
    by_email = {r.email: Msg(int(r.id), r.email, r.message_id) for r in found}
    return [by_email[e] for e in emails]


@dataclass(frozen=True)
class Msg:
    outbox_id: int
    email: str
    message_id: str


@dataclass(frozen=True)
class Built:
    data: bytes
    links: list[str]
    recipient: str
    sender: str
    message_id: str | None


def build(row: Any, lead: Any) -> Built:
    """A small message from the sender the renderer would choose."""
    sender = sender_of(row["payload"], lead.get("owner"), DEFAULT)
    data = (f"Message-ID: {row['message_id']}\r\nFrom: <{sender}>\r\nTo: <{lead['email']}>\r\n"
            "Subject: hello\r\n\r\nhello\r\n").encode()
    return Built(data, [], lead["email"], sender, row["message_id"])


def deliver(engine: sa.Engine, folder: Path, now: datetime) -> None:
    deliver_due(engine, Settings(mail_dir=folder), build=build,
                gate=breaker.pausing(None, DEFAULT), now=now,
                worker=WorkerOptions(id="breaker-test"))


def hook_app(engine: sa.Engine, clock: Clock, complaints: Thresholds | None = None) -> Any:
    track = TrackSettings(site_origins=(SITE,), limits=NO_RATE_LIMITS,
                          complaints=complaints or Thresholds())
    return create_app(engine, Settings(site_origins=(SITE,), webhook_secret=HOOK_SECRET),
                      track, secret=SECRET, now=clock)


@pytest.fixture
def client_for(clock: Clock) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(engine: sa.Engine, complaints: Thresholds | None = None) -> TestClient:
        client = TestClient(hook_app(engine, clock, complaints),
                            base_url="https://t.example.co.jp")
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def complaint(msg: Msg, event_id: str, with_message_id: bool = True) -> dict[str, Any]:
    extra = {"message_id": msg.message_id} if with_message_id else {}
    return event("complaint", msg.email, event_id, **extra)


def paused_domains(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(breaker.paused(conn))


def status_of(engine: sa.Engine, *ids: int) -> list[tuple[str, str | None]]:
    found = {r["id"]: (r["status"], r["reason"]) for r in rows(engine, outbox,
                                                               outbox.c.id.in_(ids))}
    return [found[i] for i in ids]


def messages(caplog: pytest.LogCaptureFixture, at: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "engine.track" and r.levelno == at]


# ---------------------------------------------------------------- T-C8 end to end


def test_t_c8_complaints_reaching_the_ceiling_pause_that_domain(
        store: sa.Engine, clock: Clock, client_for: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.track")
    ours = seed(store, "a", 1000, T0 - timedelta(days=2))  # from the configured sender
    theirs = seed(store, "b", 1000, T0 - timedelta(days=3),
                  payload={"sender_owner": False, "sender_address": OTHER})
    old = seed(store, "old", 300, T0 - timedelta(days=10))
    hooks = client_for(store)

    # Ten days ago: complaints about older mail. Out of today's window.
    clock.at = T0 - timedelta(days=9)
    assert post(hooks, [complaint(m, f"old-{i}") for i, m in enumerate(old[:5])],
                clock).status_code == 200
    assert paused_domains(store) == set()  # 5 of 300: far too few delivered to pause
    clock.at = T0
    caplog.clear()

    # 2 of 1,000 (0.2 %) for example.co.jp, one without a Message-ID of ours; 1 of 1,000 for
    # example.com: warnings naming each domain, no pause.
    answer = post(hooks, [complaint(ours[0], "fbl-1"), complaint(ours[1], "fbl-2", False),
                          complaint(theirs[0], "fbl-3")], clock)
    assert answer.status_code == 200 and answer.json()["suppressed"] == 3
    assert paused_domains(store) == set()
    warnings = messages(caplog, logging.WARNING)
    assert any("example.co.jp is 0.20% (2 complaints, 1,000 delivered" in w for w in warnings)
    assert any("example.com is 0.10% (1 complaint, 1,000 delivered" in w for w in warnings)
    attributed = rows(store, webhook_events, webhook_events.c.event_id == "fbl-2")[0]
    assert attributed["outbox_id"] == ours[1].outbox_id  # counted against their last message

    # The third (SendGrid's spam report carries no Message-ID): 0.3 %, paused.
    spam = {"sg_event_id": "sg-spam-1", "event": "spamreport", "email": ours[2].email}
    assert post(hooks, [spam], clock).status_code == 200
    assert paused_domains(store) == {"example.co.jp"}
    [alert] = messages(caplog, logging.ERROR)
    assert "SENDING PAUSED for example.co.jp" in alert and "0.30% (3 complaints" in alert
    assert "engine db resume-sending example.co.jp" in alert
    [entry] = rows(store, audit, audit.c.action == "sending.pause")
    assert entry["subject"] == "example.co.jp" and entry["actor"] == "webhook"
    assert (entry["details"]["complaints"], entry["details"]["delivered"]) == (3, 1000)

    # The same report again: a duplicate, nothing new, no second alert.
    caplog.clear()
    assert post(hooks, [spam], clock).json()["duplicates"] == 1
    assert messages(caplog, logging.ERROR) == []
    assert len(rows(store, audit, audit.c.action == "sending.pause")) == 1

    # Delivery holds the paused domain's marketing mail and sends the rest.
    queued_at = T0 - timedelta(minutes=5)
    [plain] = seed(store, "qa", 1, queued_at, status="pending")
    [other] = seed(store, "qb", 1, queued_at, status="pending",
                   payload={"sender_owner": False, "sender_address": OTHER})
    [by_owner] = seed(store, "qc", 1, queued_at, status="pending", owner="tanaka@example.co.jp",
                      payload={"sender_owner": True, "sender_address": OTHER})
    [no_owner] = seed(store, "qd", 1, queued_at, status="pending", owner="Tanaka (sales)",
                      payload={"sender_owner": True, "sender_address": OTHER})
    deliver(store, tmp_path / "mail", T0)
    held, sent_ok, held_owner, sent_fallback = status_of(
        store, plain.outbox_id, other.outbox_id, by_owner.outbox_id, no_owner.outbox_id)
    assert held[0] == held_owner[0] == "deferred"
    assert held[1] is not None and HELD in held[1]
    assert "complaint rate 0.30% (3 complaints, 1,000 delivered" in held[1]
    assert "engine db resume-sending example.co.jp" in held[1]
    assert sent_ok[0] == sent_fallback[0] == "sent"
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 2
    [again] = rows(store, outbox, outbox.c.id == plain.outbox_id)
    assert again["next_attempt_at"] == T0 + breaker.RECHECK and again["attempts"] == 0


def test_below_the_minimum_volume_a_complaint_warns_and_pauses_nothing(
        lite: sa.Engine, clock: Clock, client_for: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.track")
    few = seed(lite, "f", 10, T0 - timedelta(hours=5))
    answer = post(client_for(lite), [complaint(few[0], "one-of-ten")], clock)
    assert answer.status_code == 200
    assert paused_domains(lite) == set()
    assert rows(lite, settings, settings.c.key.like("sending%")) == []
    [warning] = messages(caplog, logging.WARNING)
    assert "example.co.jp is 10.00% (1 complaint, 10 delivered" in warning
    assert "fewer than 1,000 delivered: no pause yet" in warning
    # The minimum is what held it back: the same store with a lower one pauses.
    post(client_for(lite, Thresholds(min_delivered=10)), [complaint(few[1], "two")], clock)
    assert paused_domains(lite) == {"example.co.jp"}


def test_resume_sending_from_the_command_line(lite: sa.Engine, clock: Clock, client_for: Any,
                                              tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.track")
    url = str(lite.url)
    clock.at = datetime.now(UTC)
    sent = seed(lite, "r", 1000, clock.at - timedelta(days=1))
    hooks = client_for(lite)
    post(hooks, [complaint(m, f"r-{i}") for i, m in enumerate(sent[:3])], clock)
    assert paused_domains(lite) == {"example.co.jp"}
    [queued] = seed(lite, "rq", 1, clock.at - timedelta(minutes=1), status="pending")
    deliver(lite, tmp_path / "mail", clock.at)
    assert status_of(lite, queued.outbox_id)[0][0] == "deferred"

    listed = CliRunner().invoke(main, ["db", "resume-sending", "--db", url])
    assert listed.exit_code == 0 and HELD in listed.stdout

    resumed = CliRunner().invoke(main, ["db", "resume-sending", "Example.CO.jp", "--db", url])
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.stdout.startswith("example.co.jp: sending resumed (paused since ")
    assert paused_domains(lite) == set()
    [entry] = rows(lite, audit, audit.c.action == "sending.resume")
    assert entry["subject"] == "example.co.jp" and entry["details"]["released_sends"] == 1
    assert entry["actor"].startswith("cli")
    [row] = rows(lite, outbox, outbox.c.id == queued.outbox_id)
    assert row["next_attempt_at"] <= datetime.now(UTC)  # due again at once
    deliver(lite, tmp_path / "mail", datetime.now(UTC))
    assert status_of(lite, queued.outbox_id)[0][0] == "sent"

    again = CliRunner().invoke(main, ["db", "resume-sending", "example.co.jp", "--db", url])
    assert again.exit_code == 1 and "example.co.jp is not paused" in again.stderr
    hostile = CliRunner().invoke(main, ["db", "resume-sending", "%", "--db", url])
    assert hostile.exit_code == 1 and "% is not paused" in hostile.stderr

    # The complaints that caused the pause do not pause it again: the rate restarts.
    caplog.clear()
    clock.at = datetime.now(UTC) + timedelta(minutes=1)
    post(hooks, [complaint(sent[3], "r-after")], clock)
    assert paused_domains(lite) == set()
    assert any("(1 complaint, 1 delivered since" in w  # the one sent after the resume
               for w in messages(caplog, logging.WARNING))


def test_resuming_one_domain_releases_only_its_sends(lite: sa.Engine, tmp_path: Path) -> None:
    now = T0
    with db.write_transaction(lite) as conn:
        for domain in ("example.co.jp", "mail.example.co.jp"):
            assert breaker.pause(conn, Rate(domain, 5, 1000, now - timedelta(days=7)), now,
                                 "test") is not None
        assert breaker.pause(conn, Rate("example.co.jp", 9, 1000, now), now, "test") is None
    [ours] = seed(lite, "x", 1, now - timedelta(minutes=1), status="pending")
    [sub] = seed(lite, "y", 1, now - timedelta(minutes=1), status="pending",
                 payload={"sender_owner": False, "sender_address": "news@mail.example.co.jp"})
    deliver(lite, tmp_path / "mail", now)
    assert [s for s, _ in status_of(lite, ours.outbox_id, sub.outbox_id)] == ["deferred"] * 2
    with db.write_transaction(lite) as conn:
        assert breaker.resume(conn, "example.co.jp", now, "test") is not None
        assert breaker.resume(conn, "example.co.jp", now, "test") is None
    by_id = {r["id"]: r for r in rows(lite, outbox, outbox.c.id.in_([ours.outbox_id,
                                                                       sub.outbox_id]))}
    assert by_id[ours.outbox_id]["next_attempt_at"] == now
    assert by_id[sub.outbox_id]["next_attempt_at"] == now + breaker.RECHECK
    assert paused_domains(lite) == {"mail.example.co.jp"}
    assert len(rows(lite, audit, audit.c.action == "sending.pause")) == 2  # not 3


def test_a_paused_domain_holds_only_what_the_gate_would_not_block(lite: sa.Engine,
                                                                 tmp_path: Path) -> None:
    with db.write_transaction(lite) as conn:
        breaker.pause(conn, Rate("example.co.jp", 3, 1000, T0), T0, "test")
    [held] = seed(lite, "h", 1, T0, status="pending")
    [refused] = seed(lite, "n", 1, T0, status="pending", consent=False)
    deliver(lite, tmp_path / "mail", T0 + timedelta(seconds=1))
    (held_status, held_reason), (refused_status, refused_reason) = status_of(
        lite, held.outbox_id, refused.outbox_id)
    assert held_status == "deferred" and held_reason is not None and HELD in held_reason
    assert refused_status == "suppressed" and "consent" in (refused_reason or "")


def test_the_runtime_gate_can_ask_with_its_own_rows(lite: sa.Engine) -> None:
    """engine.runtime.gate reads SQLAlchemy rows (id, lead_id, created_at, payload) of send
    intents: hold() takes those as they are."""
    [queued] = seed(lite, "g", 1, T0, status="pending")
    with db.write_transaction(lite) as conn:
        breaker.pause(conn, Rate("example.co.jp", 3, 1000, T0), T0, "test")
        found = conn.execute(sa.select(outbox.c.id, outbox.c.lead_id, outbox.c.created_at,
                                       outbox.c.payload)).all()
        held = breaker.hold(conn, found, T0, DEFAULT)
        note = {"id": 999, "lead_id": found[0].lead_id, "action": "notify",
                "payload": {"channel": "email", "to": "owner@example.co.jp"}}
        assert breaker.hold(conn, [note], T0, DEFAULT) == {}  # colleagues are not marketing
        assert breaker.hold(conn, found, T0, "marketing@example.com") == {}
    verdict = held[queued.outbox_id]
    assert (verdict.status, verdict.until, verdict.allowed) == ("deferred", T0 + breaker.RECHECK,
                                                                False)
    assert verdict.reason.startswith(HELD)


def test_rows_without_their_payload_are_held_by_who_sends_them(lite: sa.Engine) -> None:
    """The tick's gate selects send intents without their payload: hold() reads who each is
    from when a domain is paused (the owner's domain for a send `from owner`)."""
    [by_owner] = seed(lite, "o", 1, T0, status="pending", owner="tanaka@example.co.jp",
                      payload={"sender_owner": True, "sender_address": OTHER})
    [other] = seed(lite, "p", 1, T0, status="pending",
                   payload={"sender_owner": False, "sender_address": OTHER})
    with db.write_transaction(lite) as conn:
        breaker.pause(conn, Rate("example.co.jp", 3, 1000, T0), T0, "test")
        bare = conn.execute(sa.select(outbox.c.id, outbox.c.lead_id,
                                      outbox.c.created_at)).all()
        held = breaker.hold(conn, bare, T0, "marketing@example.com")
    assert set(held) == {by_owner.outbox_id}  # example.com (the other) is not paused
    assert other.outbox_id not in held


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(("got", "sent", "expected"), [
    (0, 5000, "ok"), (1, 5000, "ok"), (5, 5000, "warn"), (14, 5000, "warn"),
    (15, 5000, "pause"), (3, 1000, "pause"), (2, 999, "warn"), (500, 999, "warn"),
    (1, 0, "warn"), (1, 10, "warn"),
])
def test_levels(got: int, sent: int, expected: str) -> None:
    rate = Rate("example.co.jp", got, sent, T0)
    assert level(rate, Thresholds()) == expected


def test_levels_at_exact_thresholds_despite_floating_point() -> None:
    for percent in (0.1, 0.2, 0.3, 0.7, 1.1, 2.3):
        limits = Thresholds(warn_percent=percent / 2, pause_percent=percent, min_delivered=1)
        at = round(percent * 10)  # complaints among 1,000 that are exactly ``percent``
        assert level(Rate("x.jp", at, 1000, T0), limits) == "pause", percent
        assert level(Rate("x.jp", at, 1001, T0), limits) == "warn", percent


def test_the_sending_domain_is_chosen_as_the_renderer_chooses_the_sender() -> None:
    assert sender_of(None, None, DEFAULT) == DEFAULT
    assert sender_of({"sender_address": OTHER}, "a@b.co.jp", DEFAULT) == OTHER
    assert sender_of({"sender_owner": True, "sender_address": OTHER}, "a@b.co.jp",
                     DEFAULT) == "a@b.co.jp"
    assert sender_of({"sender_owner": True}, "not an address", DEFAULT) == DEFAULT
    assert sender_of({"sender_owner": True, "sender_address": ""}, None, DEFAULT) == DEFAULT
    assert sending_domain("Marketing@Mail.Example.CO.JP.") == "mail.example.co.jp"
    assert sending_domain("example.co.jp") == "example.co.jp"


def test_breaker_thresholds_from_engine_toml(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("[tracking.complaints]\ndays = 14\nwarn_percent = 0.05\n"
                    "pause_percent = 0.2\nmin_delivered = 5000\n", encoding="utf-8")
    assert load_track_settings((), toml).complaints == Thresholds(14, 0.05, 0.2, 5000)
    assert load_track_settings((), tmp_path / "absent.toml").complaints == Thresholds()
    for bad, problem in [({"days": 0}, "days"), ({"days": 7.5}, "days"),
                         ({"days": True}, "days"), ({"min_delivered": -1}, "min_delivered"),
                         ({"pause_percent": 0}, "pause_percent"),
                         ({"pause_percent": 101}, "pause_percent"),
                         ({"warn_percent": float("nan")}, "warn_percent"),
                         ({"warn_percent": 0.5}, "warn_percent"), ({"window": 7}, "unknown"),
                         ([1, 2], "must be a table")]:
        with pytest.raises(ConfigError, match=problem):
            parse_thresholds(bad)


def test_a_rate_is_described_for_people() -> None:
    rate = Rate("example.co.jp", 4, 1150, datetime(2026, 11, 17, 1, 0, tzinfo=UTC))
    assert rate.describe() == ("0.35% (4 complaints, 1,150 delivered since "
                               "2026-11-17 01:00 UTC)")
    assert Rate("x.jp", 1, 0, T0).describe().startswith("n/a (1 complaint, 0 delivered")


def test_cached_counts_reuse_a_recent_scan_only(lite: sa.Engine) -> None:
    seed(lite, "c", 5, T0 - timedelta(hours=1))
    cached = breaker.CachedCounts(timedelta(minutes=5))
    with lite.connect() as conn:
        first = cached(conn, T0 - timedelta(days=7), T0, DEFAULT)
    seed(lite, "d", 5, T0 - timedelta(minutes=30))
    with lite.connect() as conn:
        soon = cached(conn, T0 - timedelta(days=7) + timedelta(minutes=1),
                      T0 + timedelta(minutes=1), DEFAULT)
        later = cached(conn, T0 - timedelta(days=7) + timedelta(minutes=6),
                       T0 + timedelta(minutes=6), DEFAULT)
    assert first["example.co.jp"] == soon["example.co.jp"] == 5
    assert later["example.co.jp"] == 10

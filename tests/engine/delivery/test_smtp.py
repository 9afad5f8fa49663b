"""Delivery over SMTP against a real aiosmtpd server on 127.0.0.1 that injects faults
(RELIABILITY.md 6.2, T-S1..T-S14), with the ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due, reconcile_unknown
from engine.store.emails import email_hash
from engine.store.schema import audit, suppressions
from tests.engine.delivery.helpers import (
    LINKS,
    TinyBuilder,
    TinyBuilt,
    options,
    rows,
    seed,
    statuses,
    utcnow,
)
from tests.engine.delivery.sink import FaultSink
from tests.pg import free_port


def later(hours: float = 2) -> object:
    return utcnow() + timedelta(hours=hours)


def deliver(engine: sa.Engine, settings: Settings, **kw: object) -> object:
    kw.setdefault("build", TinyBuilder())
    kw.setdefault("worker", options())
    return deliver_due(engine, settings, **kw)  # type: ignore[arg-type]


def alerts(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(audit.c.action).order_by(audit.c.id)).scalars())


def suppressed(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(r.email_hash, r.reason) for r in conn.execute(sa.select(suppressions))}


def test_sends_each_message_once_over_reused_connections(
        store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    ids = seed(store, [f"u{i}@example.com" for i in range(30)])
    settings = Settings(smtp_url=sink.url(pool=3), mail_dir=tmp_path)
    report = deliver(store, settings)
    assert report.counts["sent"] == 30 and report.claimed == 30  # type: ignore[attr-defined]
    state = rows(store)
    assert {r["status"] for r in state.values()} == {"sent"}
    assert len(sink.received) == 30 and set(sink.copies().values()) == {1}
    assert len(sink.connections_seen) <= 3  # reused, bounded
    first = state[ids[0]]
    assert first["relay_id"].startswith("Q") and first["last_reply_code"] == 250
    assert first["payload"]["links"] == LINKS and first["sent_at"] is not None
    body = next(r.content for r in sink.received if r.message_id == first["message_id"])
    assert b"\n.a line starting with a dot" in body  # transparency undone by the relay
    assert deliver(store, settings).claimed == 0  # type: ignore[attr-defined]
    assert len(sink.received) == 30


@pytest.mark.parametrize("reply", ["421 4.7.0 Try again in 5 minutes",
                                   "451 4.7.1 greylisted, try again in 5 minutes",
                                   "450 4.2.1 mailbox busy"])
def test_temporary_refusals_are_retried_then_delivered_once(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings, reply: str) -> None:
    """T-S2, T-S3 (the retry path on PostgreSQL: the relay-down test)."""
    store = sqlite_store
    ids = seed(store, ["grey@example.com", "ok@example.com"])
    sink.script("grey@example.com", rcpt=[reply])
    before = utcnow()
    deliver(store, smtp_settings)
    state = rows(store)
    assert state[ids[0]]["status"] == "deferred" and state[ids[1]]["status"] == "sent"
    assert state[ids[0]]["last_reply_code"] == int(reply[:3])
    if "5 minutes" in reply:  # the relay's hint is a minimum
        assert state[ids[0]]["next_attempt_at"] >= before + timedelta(minutes=5)
    assert deliver(store, smtp_settings).claimed == 0  # type: ignore[attr-defined]
    deliver(store, smtp_settings, now=later())
    assert statuses(store) == {ids[0]: "sent", ids[1]: "sent"}
    assert rows(store)[ids[0]]["attempts"] == 2
    assert set(sink.copies().values()) == {1} and len(sink.received) == 2


def test_hard_bounce_is_suppressed_not_retried_and_spares_the_others(
        store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-S4, T-S13 (I5: one bad recipient among many)."""
    emails = [f"u{i}@example.com" for i in range(20)]
    ids = seed(store, emails)
    sink.script("u7@example.com", rcpt=["550 5.1.1 <u7@example.com>: User unknown"])
    sink.script("u9@example.com", rcpt=["554 5.7.1 relay access denied"])
    report = deliver(store, smtp_settings)
    state = statuses(store)
    assert state[ids[7]] == "failed" and state[ids[9]] == "failed"
    assert [s for i, s in state.items() if i not in (ids[7], ids[9])] == ["sent"] * 18
    assert suppressed(store) == {(email_hash("u7@example.com"), "bounce")}
    assert report.counts == {**report.counts, "sent": 18, "failed": 2}  # type: ignore[attr-defined]
    deliver(store, smtp_settings, now=later(48))
    assert len(sink.received) == 18 and set(sink.copies().values()) == {1}


@pytest.mark.parametrize(("phase", "reply"), [
    ("rcpt", "550 5.7.26 Unauthenticated email from example.co.jp is not accepted"),
    ("data", "554 5.7.1 Message rejected as spam"),
    ("data", "554 Transaction failed"),
])
def test_policy_and_content_refusals_fail_alert_and_never_suppress(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings, phase: str,
        reply: str) -> None:
    """T-S5."""
    [row_id] = seed(sqlite_store, ["lead@example.com"])
    actions: list[str | None] = [reply]
    sink.script("lead@example.com", **{phase: actions})
    report = deliver(sqlite_store, smtp_settings)
    state = rows(sqlite_store)[row_id]
    assert state["status"] == "failed" and state["last_reply_code"] == int(reply[:3])
    assert suppressed(sqlite_store) == set()
    assert alerts(sqlite_store) in (["delivery.policy"], ["delivery.content"])
    assert report.alerts  # type: ignore[attr-defined]
    deliver(sqlite_store, smtp_settings, now=later(48))
    assert rows(sqlite_store)[row_id]["attempts"] == 1  # not retried


def test_sender_refused_stops_the_run_and_touches_no_lead(
        store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-S6: MAIL FROM 553: one clear configuration error, not N bounces."""
    ids = seed(store, [f"u{i}@example.com" for i in range(12)])
    sink.script("*", mail=["553 5.7.1 <marketing@example.co.jp>: Sender address rejected"] * 20)
    report = deliver(store, smtp_settings)
    assert "sender configuration error" in (report.stopped or "")  # type: ignore[attr-defined]
    state = rows(store)
    assert {r["status"] for r in state.values()} == {"pending"}
    assert {r["attempts"] for r in state.values()} == {0}
    assert suppressed(store) == set() and alerts(store) == ["delivery.sender"]
    assert sink.received == [] and len(ids) == 12


def test_authentication_refused_stops_the_run(sqlite_store: sa.Engine, tmp_path: Path) -> None:
    """T-S6: AUTH 535."""
    seed(sqlite_store, ["a@example.com", "b@example.com"])
    with FaultSink(with_auth=True, auth_ok=False) as sink:
        url = sink.url().replace("smtp://", "smtp://user:wrong@")
        report = deliver(sqlite_store, Settings(smtp_url=url, mail_dir=tmp_path))
    assert "authenticat" in (report.stopped or "")  # type: ignore[attr-defined]
    assert set(statuses(sqlite_store).values()) == {"pending"} and sink.received == []


def test_authentication_accepted(sqlite_store: sa.Engine, tmp_path: Path) -> None:
    seed(sqlite_store, ["a@example.com"])
    with FaultSink(with_auth=True) as sink:
        url = sink.url().replace("smtp://", "smtp://user:right@")
        deliver(sqlite_store, Settings(smtp_url=url, mail_dir=tmp_path))
    assert set(statuses(sqlite_store).values()) == {"sent"} and len(sink.received) == 1


def test_disconnect_after_354_is_before_the_dot(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-S7. A 6 MB message, more than the sockets buffer: the client is still writing when
    the close arrives. (With a small one the final dot may already be out when the client
    learns of it: then the outcome is, rightly, unknown.)"""
    [row_id] = seed(sqlite_store, ["a@example.com"])
    sink.script("a@example.com", data_cmd=["disconnect_after_354"])
    build = TinyBuilder(body_size=6_000_000)
    deliver(sqlite_store, smtp_settings, build=build)
    assert statuses(sqlite_store) == {row_id: "deferred"}
    deliver(sqlite_store, smtp_settings, build=build, now=later())
    assert statuses(sqlite_store) == {row_id: "sent"} and len(sink.received) == 1


def test_connection_dropped_mid_data_is_deferred_then_sent_once(
        store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """A large message; the relay reads 64 KB of it and resets the connection."""
    [row_id] = seed(store, ["big@example.com"])
    sink.script("big@example.com", data_cmd=["drop_mid_data:65536"])
    build = TinyBuilder(body_size=6_000_000)
    deliver(store, smtp_settings, build=build)
    state = rows(store)[row_id]
    assert state["status"] == "deferred", state["reason"]
    assert "before the final dot" in state["reason"]
    assert sink.received == []
    deliver(store, smtp_settings, build=build, now=later())
    assert statuses(store) == {row_id: "sent"}
    assert list(sink.copies().values()) == [1]


def test_stall_after_the_dot_is_unknown_and_never_resent_blindly(
        store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    """T-S8 (RFC 1047): the relay has the message, the reply never comes."""
    ids = seed(store, ["slow@example.com", "fine@example.com"])
    sink.script("slow@example.com", data=["stall:1"])
    settings = Settings(smtp_url=sink.url(timeout=0.3, pool=1), mail_dir=tmp_path)
    report = deliver(store, settings)
    assert statuses(store) == {ids[0]: "unknown", ids[1]: "sent"}
    assert report.counts["unknown"] == 1 and "delivery.unknown" in alerts(store)  # type: ignore[attr-defined]
    deliver(store, settings, now=later(48))
    assert statuses(store)[ids[0]] == "unknown"
    message_id = rows(store)[ids[0]]["message_id"]
    time.sleep(0.8)  # the stalled session finishes on the server side
    assert sink.copies(message_id)[message_id] == 1
    assert reconcile_unknown(store, sink.has) == {"sent": 1, "pending": 0, "unknown": 0}
    assert statuses(store)[ids[0]] == "sent"


def test_stall_before_the_dot_is_deferred(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    [row_id] = seed(sqlite_store, ["slow@example.com"])
    sink.script("slow@example.com", rcpt=["stall:1"])
    deliver(sqlite_store, Settings(smtp_url=sink.url(timeout=0.3), mail_dir=tmp_path))
    assert statuses(sqlite_store) == {row_id: "deferred"}
    time.sleep(0.8)
    deliver(sqlite_store, Settings(smtp_url=sink.url(timeout=2), mail_dir=tmp_path),
            now=later())
    assert statuses(sqlite_store) == {row_id: "sent"} and len(sink.received) == 1


def test_a_250_followed_by_a_dropped_connection_is_sent(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    """T-S9: whatever happens after a 2xx, the message is sent and never retried."""
    ids = seed(sqlite_store, ["a@example.com", "b@example.com", "c@example.com"])
    sink.script("a@example.com", data=["250_then_disconnect"])
    deliver(sqlite_store, Settings(smtp_url=sink.url(pool=1), mail_dir=tmp_path))
    assert set(statuses(sqlite_store).values()) == {"sent"}
    assert rows(sqlite_store)[ids[0]]["relay_id"] == "DISC0001"
    assert len(sink.received) == 3


def test_garbage_replies_defer_and_the_worker_goes_on(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-S10."""
    ids = seed(sqlite_store, ["a@example.com", "b@example.com"])
    sink.script("a@example.com", rcpt=["this is not smtp"])
    deliver(sqlite_store, smtp_settings)
    assert statuses(sqlite_store) == {ids[0]: "deferred", ids[1]: "sent"}


def test_retries_stop_at_the_cap(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    """T-S11: 451 forever; max 3 attempts."""
    [row_id] = seed(sqlite_store, ["never@example.com"])
    sink.script("never@example.com", rcpt=["451 4.3.0 try later"] * 10)
    from engine.delivery.policy import RetryPolicy

    worker = options(retry=RetryPolicy(base_seconds=60, max_attempts=3))
    for hours in (0, 1, 2, 3, 4):
        deliver(sqlite_store, smtp_settings, worker=worker, now=later(hours))
    state = rows(sqlite_store)[row_id]
    assert state["status"] == "failed" and state["attempts"] == 3
    assert "gave up after 3 attempts" in state["reason"]


def test_relay_down_defers_with_growing_backoff_then_delivers(
        store: sa.Engine, tmp_path: Path) -> None:
    """T-S1 and the server down at start: one connection attempt per run (the breaker), no
    lead marked bounced, then sent once the relay is up."""
    port = free_port()
    ids = seed(store, [f"u{i}@example.com" for i in range(6)])
    settings = Settings(smtp_url=f"smtp://127.0.0.1:{port}?tls=none&timeout=2",
                        mail_dir=tmp_path)
    waits = []
    for hours in (0, 1, 3):
        at = later(hours)
        report = deliver(store, settings, now=at)
        assert "cannot reach the relay" in (report.stopped or "")  # type: ignore[attr-defined]
        state = rows(store)
        assert {r["status"] for r in state.values()} == {"deferred"}
        waits.append(state[ids[0]]["next_attempt_at"] - at)
    assert waits[0] < waits[1] < waits[2]
    assert suppressed(store) == set()
    with FaultSink(port=port) as sink:
        deliver(store, settings, now=later(24))
    assert set(statuses(store).values()) == {"sent"} and len(sink.received) == 6


def test_plain_text_is_refused_when_starttls_is_required(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    """T-S12: the relay offers no STARTTLS; nothing goes out in the clear."""
    seed(sqlite_store, ["a@example.com"])
    url = sink.url(tls="starttls")
    report = deliver(sqlite_store, Settings(smtp_url=url, mail_dir=tmp_path))
    assert set(statuses(sqlite_store).values()) == {"deferred"}
    assert "STARTTLS" in (report.stopped or "") and alerts(sqlite_store) == ["delivery.tls"]  # type: ignore[attr-defined]
    assert sink.received == []


def test_template_errors_and_hostile_envelopes_fail_one_message_only(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    ids = seed(sqlite_store, ["broken@example.com", "ok@example.com", "evil@example.com"])
    plain = TinyBuilder(fail={"broken@example.com"})

    def build(row: object, lead: object) -> TinyBuilt:
        made = plain(row, lead)  # type: ignore[arg-type]
        if made.recipient == "evil@example.com":
            return TinyBuilt(made.data, made.links, "evil@example.com\r\nRCPT TO:<x@y.z>",
                             made.sender, made.message_id)
        return made

    deliver(sqlite_store, smtp_settings, build=build)
    state = rows(sqlite_store)
    assert [state[i]["status"] for i in ids] == ["failed", "sent", "failed"]
    assert "template error" in state[ids[0]]["reason"]
    assert "header injection" in state[ids[2]]["reason"]
    assert [r.recipient for r in sink.received] == ["ok@example.com"]


def test_a_builder_bug_releases_the_rows_and_is_raised(
        sqlite_store: sa.Engine, sink: FaultSink, smtp_settings: Settings) -> None:
    seed(sqlite_store, ["a@example.com", "b@example.com"])

    def build(row: object, lead: object) -> TinyBuilt:
        raise KeyError("a bug, not a template problem")

    with pytest.raises(KeyError):
        deliver(sqlite_store, smtp_settings, build=build)
    state = rows(sqlite_store)
    assert {r["status"] for r in state.values()} == {"pending"}
    assert {r["attempts"] for r in state.values()} == {0}


def test_rate_limit_and_bounded_concurrency(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    seed(sqlite_store, [f"u{i}@example.com" for i in range(10)])
    started = time.monotonic()
    deliver(sqlite_store, Settings(smtp_url=sink.url(rate=20, pool=2), mail_dir=tmp_path))
    assert time.monotonic() - started >= 0.4  # 10 messages at 20 per second
    assert len(sink.connections_seen) <= 2 and len(sink.received) == 10


def test_lease_lost_while_sending_records_the_truth_once(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    """T-W3: the relay answers after the lease ran out and a reaper made the row unknown; the
    late 250 is recorded (the row is still this worker's), and nothing is sent twice."""
    import threading

    from engine.delivery import ledger
    from engine.store.db import write_transaction

    [row_id] = seed(sqlite_store, ["slow@example.com"])
    sink.script("slow@example.com", data=["stall:1.6"])
    settings = Settings(smtp_url=sink.url(timeout=5), mail_dir=tmp_path)
    reaped: list[object] = []

    def reaper() -> None:
        time.sleep(1.0)
        with write_transaction(sqlite_store) as conn:
            reaped.append(ledger.reap(conn))

    thread = threading.Thread(target=reaper)
    thread.start()
    deliver(sqlite_store, settings, worker=options(lease_seconds=0.5))
    thread.join()
    assert reaped and reaped[0][1] == [(row_id, rows(sqlite_store)[row_id]["message_id"])]  # type: ignore[index]
    assert statuses(sqlite_store) == {row_id: "sent"}
    deliver(sqlite_store, settings, now=later(48))
    assert len(sink.received) == 1


def test_at_least_once_resends_an_unknown_message_once_with_the_same_message_id(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    [row_id] = seed(sqlite_store, ["slow@example.com"])
    sink.script("slow@example.com", data=["stall:0.8"])
    settings = Settings(smtp_url=sink.url(timeout=0.3), mail_dir=tmp_path)
    deliver(sqlite_store, settings)
    assert statuses(sqlite_store) == {row_id: "unknown"}
    time.sleep(0.6)
    worker = options(at_least_once=True)
    report = deliver(sqlite_store, settings, worker=worker, now=later())
    assert report.resent_unknown == 1 and statuses(sqlite_store) == {row_id: "sent"}  # type: ignore[attr-defined]
    deliver(sqlite_store, settings, worker=worker, now=later(5))
    message_id = rows(sqlite_store)[row_id]["message_id"]
    assert sink.copies() == {message_id: 2}  # never more than two


@pytest.mark.slow
def test_slow_relay_with_temporary_failures_loses_and_duplicates_nothing(
        sqlite_store: sa.Engine, tmp_path: Path) -> None:
    """T-S14: 20 ms per message and one recipient in ten refused with 451 twice."""
    store = sqlite_store
    emails = [f"u{i}@example.com" for i in range(80)]
    ids = seed(store, emails)
    with FaultSink(delay=0.02) as sink:
        for email in emails[::10]:
            sink.script(email, rcpt=["451 4.7.1 busy", "451 4.7.1 busy"])
        settings = Settings(smtp_url=sink.url(pool=4), mail_dir=tmp_path)
        for hours in range(4):
            deliver(store, settings, now=later(hours * 3))
    assert set(statuses(store).values()) == {"sent"} and len(ids) == 80
    assert len(sink.received) == 80 and set(sink.copies().values()) == {1}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl command line)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
def test_tls_certificates_are_verified(sqlite_store: sa.Engine, tmp_path: Path,
                                       certificate: tuple[Path, Path], mode: str) -> None:
    """T-S12: an unverifiable certificate defers and alerts (nothing sent in the clear);
    with the relay's CA configured (cafile=) the same relay is used over TLS."""
    import ssl

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    [row_id] = seed(sqlite_store, ["a@example.com"])
    extra = {"ssl_context": context} if mode == "implicit" else {"tls_context": context,
                                                                 "require_starttls": True}
    with FaultSink(**extra) as sink:
        scheme = "smtps" if mode == "implicit" else "smtp"
        tls = "" if mode == "implicit" else "tls=starttls&"
        base = f"{scheme}://127.0.0.1:{sink.port}?{tls}timeout=5"
        report = deliver(sqlite_store, Settings(smtp_url=base, mail_dir=tmp_path))
        assert statuses(sqlite_store) == {row_id: "deferred"} and sink.received == []
        assert "delivery.tls" in alerts(sqlite_store) and report.stopped  # type: ignore[attr-defined]
        deliver(sqlite_store, Settings(smtp_url=f"{base}&cafile={cert}", mail_dir=tmp_path),
                now=later())
        assert statuses(sqlite_store) == {row_id: "sent"} and len(sink.received) == 1

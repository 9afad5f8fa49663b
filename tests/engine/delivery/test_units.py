"""The pure parts of delivery: reply classification, SMTP URLs, retry policy, envelope checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import SMTP

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import ConfigError
from engine.delivery import classify
from engine.delivery.message import envelope_problem, file_name, smtp_payload
from engine.delivery.policy import RetryPolicy, WorkerOptions, parse_duration
from engine.delivery.smtp_url import parse_smtp_url
from tests.engine.delivery.helpers import TinyBuilt

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("phase", "code", "text", "status", "suppress", "alert", "stop"), [
    ("data_end", 250, "2.0.0 Ok: queued as 4BC3D1F2", "sent", False, None, False),
    ("rcpt", 550, "5.1.1 <x@example.com>: Recipient address rejected: User unknown",
     "failed", True, None, False),
    ("rcpt", 550, "5.1.2 bad destination system", "failed", True, None, False),
    ("rcpt", 553, "5.1.3 bad address syntax", "failed", True, None, False),
    ("rcpt", 550, "5.1.6 mailbox has moved", "failed", True, None, False),
    ("rcpt", 550, "5.7.26 unauthenticated email from example.co.jp is not accepted",
     "failed", False, "policy", False),
    ("data_end", 554, "5.7.1 message rejected as spam", "failed", False, "policy", False),
    ("data_end", 554, "transaction failed", "failed", False, "content", False),
    ("data_end", 552, "5.6.0 content refused", "failed", False, "content", False),
    ("rcpt", 552, "5.2.2 mailbox full", "deferred", False, None, False),
    ("rcpt", 450, "4.2.1 greylisted, try again in 5 minutes", "deferred", False, None, False),
    ("rcpt", 451, "4.7.1 try later", "deferred", False, None, False),
    ("mail", 421, "4.7.0 retry in 5 minutes", "deferred", False, None, False),
    ("mail", 553, "5.7.1 sender not owned by user", "released", False, "sender", True),
    ("auth", 535, "5.7.8 authentication credentials invalid", "released", False, "sender",
     True),
    ("rcpt", 550, "no such user", "failed", False, None, False),
    ("data_end", 451, "4.3.0 local error", "deferred", False, None, False),
    ("data_end", -1, "Malformed SMTP response line: \x00\xff", "unknown", False, "unknown",
     False),
    ("rcpt", -1, "Malformed SMTP response line: garbage", "deferred", False, None, False),
])
def test_replies_are_classified_by_phase_code_and_enhanced_status(
        phase: classify.Phase, code: int, text: str, status: str, suppress: bool,
        alert: str | None, stop: bool) -> None:
    outcome = classify.reply(phase, code, text)
    assert (outcome.status, outcome.suppress, outcome.alert, outcome.stop) == \
        (status, suppress, alert, stop), outcome.reason


def test_a_lost_reply_is_unknown_only_after_the_final_dot() -> None:
    for phase in ("mail", "rcpt", "data_start", "data_body"):
        assert classify.fault(phase, ConnectionResetError("reset")).status == "deferred"
    assert classify.fault("data_end", TimeoutError("slow")).status == "unknown"
    down = classify.fault("connect", ConnectionRefusedError(111, "refused"))
    assert down.status == "deferred" and down.breaker


def test_hints_codes_and_queue_ids() -> None:
    assert classify.retry_hint("4.7.0 Try again in 5 minutes") == 300
    assert classify.retry_hint("retry after 30 seconds") == 30
    assert classify.retry_hint("later") is None
    assert classify.enhanced_code("5.1.10 null MX") == "5.1.10"
    assert classify.enhanced_code("550 5.1.1") is None  # the code is not part of the text
    assert classify.relay_id("2.0.0 Ok: queued as 4BC3D1F2") == "4BC3D1F2"
    assert classify.relay_id("OK id=abc") is None


def test_smtp_urls() -> None:
    url = parse_smtp_url("smtp://user%40corp:p%3Ass@127.0.0.1:2525?tls=starttls&pool=2&rate=50")
    assert (url.host, url.port, url.tls, url.username, url.password, url.pool, url.rate) == \
        ("127.0.0.1", 2525, "starttls", "user@corp", "p:ss", 2, 50.0)
    assert parse_smtp_url("smtps://relay.example.com").port == 465
    assert parse_smtp_url("smtps://relay.example.com").tls == "implicit"
    assert parse_smtp_url("smtp://relay.example.com").tls == "starttls"  # TLS unless told not
    assert parse_smtp_url("smtp://relay.example.com?tls=none").port == 25
    assert "secret" not in parse_smtp_url("smtp://u:secret@h").display()


@pytest.mark.parametrize("url", [
    "http://relay", "smtp://", "smtp://h?tls=maybe", "smtp://h?tsl=none", "smtp://h?pool=0",
    "smtps://h?tls=none", "smtp://h:port", "smtp://h?timeout=soon",
])
def test_bad_smtp_urls_say_why(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_smtp_url(url)


def test_bad_smtp_url_error_hides_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        parse_smtp_url("smtp://u:hunter2@h?bogus=1")
    assert "hunter2" not in str(error.value)


def test_backoff_grows_is_capped_and_honours_hints() -> None:
    policy = RetryPolicy(base_seconds=60, factor=2, max_delay_seconds=600)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == \
        [60, 120, 240, 480, 600, 600]
    assert policy.delay(1, hint=300).total_seconds() == 300


def test_give_up_after_attempts_or_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=3600)
    assert policy.give_up(2, T0, T0) is None
    assert "3 attempts" in (policy.give_up(3, T0, T0) or "")
    assert "max age" in (policy.give_up(1, T0, T0 + timedelta(hours=1)) or "")


def test_worker_options_from_the_environment() -> None:
    options = WorkerOptions.from_environ({"ENGINE_DELIVERY_MAX_ATTEMPTS": "3",
                                          "ENGINE_DELIVERY_MAX_AGE": "12h",
                                          "ENGINE_DELIVERY_AT_LEAST_ONCE": "1",
                                          "ENGINE_DELIVERY_LEASE": "90s"})
    assert options.retry.max_attempts == 3 and options.retry.max_age_seconds == 43200
    assert options.at_least_once and options.lease_seconds == 90
    assert parse_duration("3d") == 259200
    with pytest.raises(ConfigError):
        WorkerOptions.from_environ({"ENGINE_DELIVERY_MAX_AGE": "soon"})
    with pytest.raises(ConfigError):
        WorkerOptions.from_environ({"ENGINE_DELIVERY_AT_LEAST_ONCE": "perhaps"})


def built(recipient: str = "taro@example.co.jp", sender: str = "m@example.co.jp",
          message_id: str | None = "<a@x>") -> TinyBuilt:
    return TinyBuilt(b"Subject: x\r\n\r\nbody\r\n", [], recipient, sender, message_id)


@pytest.mark.parametrize("recipient", [
    "taro@example.co.jp\r\nRCPT TO:<evil@example.com>", "taro@example.co.jp\n",
    "taro\u2028@example.co.jp", "taro@example.co.jp\u2029", "ta\x00ro@example.co.jp",
    "<taro@example.co.jp>", "taro @example.co.jp", "", "no-at-sign",
])
def test_hostile_envelope_recipients_are_refused(recipient: str) -> None:
    assert envelope_problem(built(recipient=recipient), "<a@x>") is not None
    assert envelope_problem(built(sender=recipient), "<a@x>") is not None


def test_a_message_must_carry_its_rows_message_id() -> None:
    assert envelope_problem(built(), "<a@x>") is None
    assert envelope_problem(built(message_id="<b@x>"), "<a@x>") is not None


@given(st.lists(st.sampled_from([".", "..", "a", ".b", "\r\n", "\n", "\r", "x.y"]),
                max_size=30))
def test_dot_stuffing_round_trips(parts: list[str]) -> None:
    data = "".join(parts).encode()
    wire = smtp_payload(data)
    assert wire.endswith(b"\r\n")
    lines = wire.split(b"\r\n")[:-1]
    assert all(not line.startswith(b".") or line.startswith(b"..") for line in lines)
    assert b"." not in lines  # no line of the message can end DATA early
    restored = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert restored + b"\r\n" == (expected if expected.endswith(b"\r\n") else expected + b"\r\n")


def test_file_names_are_safe() -> None:
    assert file_name("<abc@mail.example.co.jp>", "x") == "abc@mail.example.co.jp.eml"
    assert "/" not in file_name("<../../etc/passwd@x>", "x")
    assert file_name(None, "outbox-3") == "outbox-3.eml"
    assert message_from_bytes(b"Subject: x\r\n\r\n", policy=SMTP)["subject"] == "x"

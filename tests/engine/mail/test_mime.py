"""The hand-built MIME bytes are a correct message: the stdlib parser reads back exactly the
headers, parts, charsets and Japanese text that were rendered; no header value can add a header
(I12, RELIABILITY T-T5)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.message import EmailMessage

import pytest

from engine.mail import mime, tokens
from engine.mail.errors import HeaderError
from engine.mail.render import MailJob, Renderer
from tests.engine.mail.conftest import AT, SECRET, en_lead, ja_lead, settings

HEADERS = ["Date", "From", "Reply-To", "To", "Subject", "Message-ID", "List-Unsubscribe",
           "List-Unsubscribe-Post", "MIME-Version", "Content-Language", "Content-Type"]


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def job(lead: dict[str, object], template: str = "dormant/intro.html", **kw: object) -> MailJob:
    return MailJob(template, lead, "revive_dormant", "intro", outbox_id=42, at=AT,
                   **kw)  # type: ignore[arg-type]


def test_a_japanese_message_reads_back_exactly(renderer: Renderer) -> None:
    j = job(ja_lead(), sender_owner=True, sender_address="cs@example.co.jp",
            message_id=tokens.message_id(SECRET, "revive_dormant:1:intro:1", "mail.example.co.jp"))
    rendered = renderer.render(j)
    built = renderer.message(j)
    msg = parse(built.data)
    assert list(msg.keys()) == HEADERS
    assert msg["Subject"] == rendered.subject == built.subject
    assert "経費精算" in msg["Subject"]
    assert msg["From"].addresses[0].display_name == "田中 健"
    assert msg["From"].addresses[0].addr_spec == "tanaka.k@example.co.jp" == built.sender
    assert msg["Reply-To"].addresses[0].addr_spec == "tanaka.k@example.co.jp"
    assert msg["To"].addresses[0].display_name == "山田 太郎"
    assert msg["To"].addresses[0].addr_spec == "yamada.taro@example.jp" == built.recipient
    assert msg["Message-ID"] == built.message_id == j.message_id
    assert msg["Date"] == email.utils.format_datetime(AT)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = list(msg.iter_parts())
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain["Content-Transfer-Encoding"] == "base64"  # Japanese: base64, not 3x QP
    assert lf(plain.get_content()).rstrip("\n") == rendered.text.rstrip("\n")
    assert lf(html.get_content()).rstrip("\n") == rendered.html.rstrip("\n")
    assert "山田 様" in plain.get_content() and "株式会社サンプル商事" in html.get_content()


def test_wire_format_is_7bit_crlf_with_short_lines(renderer: Renderer) -> None:
    data = renderer.message(job(ja_lead(), sender_owner=True)).data
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    # The unsubscribe URL cannot be folded (clients would not join it again); 998 is the limit.
    assert all(len(line) <= 78 or line.startswith(b"List-Unsubscribe: <https://")
               for line in data.split(b"\r\n"))
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_english_bodies_are_quoted_printable(renderer: Renderer) -> None:
    built = renderer.message(job(en_lead()))
    msg = parse(built.data)
    plain, html = list(msg.iter_parts())
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert "Hello Jane," in plain.get_content()
    assert msg["Subject"] == "It has been a while: how is expense reporting going?"
    assert msg["Content-Language"] == "en"


def test_list_unsubscribe_is_the_https_unsubscribe_url(renderer: Renderer) -> None:
    msg = parse(renderer.message(job(ja_lead())).data)
    m = re.fullmatch(r"<https://t\.example\.co\.jp/u/([^>]+)>", msg["List-Unsubscribe"])
    assert m, msg["List-Unsubscribe"]
    token = tokens.verify(SECRET, m.group(1), "unsubscribe")
    assert token is not None and token.outbox_id == 42


@pytest.mark.parametrize("subject", [
    "A" * 150,
    "Quarterly update: " + " ".join(["word"] * 40),
    "経費精算" * 30,
    "Mixed 日本語 and English " * 6,
    "=?UTF-8?Q?=0A?=Bcc: evil@example.com",  # looks like an encoded word: encoded itself
    '"quoted" (comment) <angle> ;,:',
])
def test_subjects_fold_and_read_back(subject: str) -> None:
    value = mime.encode_text(subject, "subject", len("Subject: "))
    raw = f"Subject: {value}\r\nTo: a@example.com\r\n\r\nbody\r\n".encode("ascii")
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    msg = parse(raw)
    assert msg["Subject"] == subject
    assert list(msg.keys()) == ["Subject", "To"]


@pytest.mark.parametrize("name", ["Example Corp.", "田中 健", 'Tanaka "Ken"', "O'Brien, Pat",
                                  "Back\\slash", "=?UTF-8?B?x?="])
def test_display_names_read_back(name: str) -> None:
    raw = f"From: {mime.mailbox(name, 'a@example.co.jp', 'sender')}\r\n\r\n".encode("ascii")
    addr = parse(raw)["From"].addresses[0]
    assert (addr.display_name, addr.addr_spec) == (name, "a@example.co.jp")


@pytest.mark.parametrize("payload", ["Hi\r\nBcc: x@evil.example", "Hi\nBcc: x@evil.example",
                                     "Hi\rBcc: x@evil.example", "Hi\u2028Bcc: x@evil.example",
                                     "Hi\u2029", "Hi\x85", "Hi\x00", "Hi\x0b", "trailing\n"])
def test_line_breaks_in_header_values_are_refused(payload: str) -> None:
    with pytest.raises(HeaderError, match="line break or control character"):
        mime.encode_text(payload, "subject", 9)
    with pytest.raises(HeaderError):
        mime.mailbox(payload, "a@example.co.jp", "sender")


@pytest.mark.parametrize("field", ["company", "last_name"])
def test_lead_data_with_a_line_break_fails_that_message_only(renderer: Renderer,
                                                             field: str) -> None:
    bad = ja_lead(**{field: "サンプル\r\nBcc: victim@example.com"})
    with pytest.raises(HeaderError):
        # company is in the resend's subject; last_name is in the To display name
        renderer.message(job(bad, template="dormant/intro_resend.html"))
    good = renderer.message(job(ja_lead(), template="dormant/intro_resend.html"))
    assert list(parse(good.data).keys()) == HEADERS


def test_an_encoded_word_lookalike_in_lead_data_stays_text(renderer: Renderer) -> None:
    lead = ja_lead(company="=?UTF-8?Q?=0A?=Bcc: evil@example.com", language="en")
    built = renderer.message(job(lead, template="dormant/intro_resend.html"))
    msg = parse(built.data)
    assert list(msg.keys()) == HEADERS
    assert "=?UTF-8?Q?=0A?=Bcc: evil@example.com" in msg["Subject"]
    assert msg.get_all("Bcc") is None


@pytest.mark.parametrize("bad", ["x@example.com\r\nBcc: y@example.com", "名前@example.jp",
                                 "not an address", "a@b@c", ""])
def test_unusable_addresses_are_refused(renderer: Renderer, bad: str) -> None:
    with pytest.raises(HeaderError):
        renderer.message(job(ja_lead(email=bad)))
    with pytest.raises(HeaderError):
        renderer.message(job(ja_lead(), sender_address=bad or "x"))
    with pytest.raises(HeaderError):
        renderer.notification("alerts/mql.txt", ja_lead(), "f", "s", bad)


def test_an_owner_that_is_not_an_address_falls_back_to_the_sender(renderer: Renderer) -> None:
    lead = ja_lead(owner="田中\r\nBcc: x@evil.example")
    built = renderer.message(job(lead, sender_owner=True, sender_address="cs@example.co.jp"))
    msg = parse(built.data)
    assert msg["From"].addresses[0].addr_spec == "cs@example.co.jp"
    assert list(msg.keys()) == HEADERS


@pytest.mark.parametrize("text", ["plain ascii with =_ and --=_nurture_x boundary lookalikes",
                                  "日本語 =_ --=_nurture_x", "a\r\nb\rc\nd", "x" * 500])
def test_bodies_never_contain_a_boundary(text: str) -> None:
    cte, body = mime.encode_body(text)
    assert b"=_" not in body
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    msg = parse(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
                + cte + b"\r\n\r\n" + body)
    assert lf(msg.get_content()).rstrip("\n") == text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata"])
def test_date_header_is_rfc5322(zone: str) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    for month in (1, 7):
        at = dt.datetime(2026, month, 5, 9, 3, 7, tzinfo=ZoneInfo(zone))
        assert mime.date_header(at) == email.utils.format_datetime(at)
    assert mime.date_header(dt.datetime(2026, 1, 5, 9, 3, 7)).endswith(" +0000")


def test_message_ids_are_given_or_random(renderer: Renderer) -> None:
    given = tokens.message_id(SECRET, "k", "mail.example.co.jp")
    assert renderer.message(job(ja_lead(), message_id=given)).message_id == given
    a, b = (renderer.message(job(ja_lead())).message_id for _ in range(2))
    assert a != b and a.endswith("@mail.example.co.jp>")
    with pytest.raises(HeaderError):
        renderer.message(job(ja_lead(), message_id="<a@b>\r\nBcc: x@evil.example"))


def test_notifications_are_plain_text_without_tracking(renderer: Renderer) -> None:
    built = renderer.notification("alerts/mql.txt", {**ja_lead(), "scores": {"fit": 62,
                                                                             "interest": 45}},
                                  "two_axis_mql", "notify", "inside-sales@example.co.jp", at=AT)
    msg = parse(built.data)
    assert msg.get_content_type() == "text/plain"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe"] is None and built.links == []
    assert msg["Subject"] == "【MQL】株式会社サンプル商事 山田 様（fit 62 / interest 45）"
    assert msg["To"] == "inside-sales@example.co.jp" == built.recipient
    text = msg.get_content()
    assert "engine explain yamada.taro@example.jp" in text and "田中 健" in text
    assert "/c/" not in text and "/o/" not in text


def test_the_crm_link_appears_in_alerts_when_configured() -> None:
    r = Renderer(settings(lead_url="https://crm.example.co.jp/leads?email={email}"), SECRET)
    built = r.notification("alerts/revived.txt", ja_lead(), "revive_dormant", "notify",
                           "cs@example.co.jp")
    assert "https://crm.example.co.jp/leads?email=yamada.taro@example.jp" in \
        parse(built.data).get_content()

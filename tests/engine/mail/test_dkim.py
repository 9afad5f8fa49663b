"""DKIM signing (RELIABILITY T-C2): every message is signed relaxed/relaxed with ``h=`` covering
From, To, Subject, Date, Message-ID, MIME headers and both list headers; the signature verifies
against the published key (a dnsfunc here, never the network), also after a real SMTP exchange
and in the .eml folder; a changed List-Unsubscribe, an added one-click header or a changed body
fails it; a missing or unusable key, or a ``d=`` not aligned with From, stops before any
message is built, naming the file or the domains."""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
import sqlalchemy as sa

from engine.config import ConfigError, Dkim, Sender, load_settings
from engine.delivery import deliver_due
from engine.delivery.build import renderer_build
from engine.mail.dkim import (
    DkimError,
    Signer,
    aligned,
    header_names,
    include_headers,
    organisational_domain,
    public_key_record,
    read_key,
)
from engine.mail.render import MailJob, Renderer
from engine.store import db
from tests.engine.delivery.helpers import SECRET as DELIVERY_SECRET
from tests.engine.delivery.helpers import options, seed
from tests.engine.delivery.sink import FaultSink
from tests.engine.mail.conftest import AT, SECRET, en_lead, ja_lead, settings

DOMAIN = "example.co.jp"
SELECTOR = "nurture2026"
WANTED = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
          "list-unsubscribe", "list-unsubscribe-post", "reply-to"}


def openssl_key(path: Path, bits: int) -> Path:
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    f"rsa_keygen_bits:{bits}", "-out", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path


@pytest.fixture(scope="session")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return openssl_key(tmp_path_factory.mktemp("dkim") / "dkim.pem", 2048)


def dns_for(key_path: Path, selector: str = SELECTOR, domain: str = DOMAIN
            ) -> Callable[..., bytes | None]:
    """What DNS would answer for ``<selector>._domainkey.<domain>``: the test key's record."""
    record = public_key_record(key_path.read_bytes()).encode("ascii")

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{selector}._domainkey.{domain}.".encode() else None

    return dnsfunc


def signing(key_path: Path, **overrides: Any) -> Renderer:
    return Renderer(settings(dkim=Dkim(DOMAIN, SELECTOR, key_path), **overrides), SECRET)


def job(lead: dict[str, Any], **kw: Any) -> MailJob:
    return MailJob("dormant/intro.html", lead, "revive_dormant", "intro", outbox_id=42, at=AT,
                   **kw)


def tags(data: bytes) -> dict[str, str]:
    """The DKIM-Signature's tags, unfolded."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    match = re.search(r"^DKIM-Signature: (.*?)(?=^\S)", head + "\r\nX", re.M | re.S)
    assert match, head[:400]
    value = re.sub(r"\s+", "", match.group(1))
    return dict(part.split("=", 1) for part in value.split(";") if part)


def verifies(data: bytes, key_path: Path) -> bool:
    return bool(dkim.verify(data, dnsfunc=dns_for(key_path)))


def test_a_signed_message_covers_the_list_headers_and_verifies(key: Path) -> None:
    renderer = signing(key, unsubscribe_mailto="unsubscribe@example.co.jp")
    data = renderer.message(job(ja_lead(), sender_owner=True)).data
    assert data.startswith(b"DKIM-Signature: ")
    t = tags(data)
    assert (t["v"], t["a"], t["c"], t["d"], t["s"]) == ("1", "rsa-sha256", "relaxed/relaxed",
                                                        DOMAIN, SELECTOR)
    signed = t["h"].split(":")
    assert WANTED <= set(signed)
    # Oversigned: listed once more than present, so none can be added after signing.
    for name in ("from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post"):
        assert signed.count(name) == 2, (name, signed)
    assert "dkim-signature" not in signed and "received" not in signed
    assert verifies(data, key)


def test_notifications_are_signed_too(key: Path) -> None:
    data = signing(key).notification("alerts/revived.txt", ja_lead(), "revive_dormant",
                                     "notify", "cs@example.co.jp", at=AT).data
    assert "auto-submitted" in tags(data)["h"].split(":") and verifies(data, key)


def test_tampering_after_signing_fails_verification(key: Path) -> None:
    renderer = signing(key)
    data = renderer.message(job(en_lead())).data
    assert verifies(data, key)
    url = re.search(rb"List-Unsubscribe: <([^>]+)>", data)
    assert url is not None
    changed = data.replace(url.group(1), b"https://evil.example.com/u/x")
    assert not verifies(changed, key)
    body_changed = data.replace(b"Hello Jane,", b"Hello Joan,")
    assert body_changed != data and not verifies(body_changed, key)
    second_from = data.replace(b"\r\nTo: ", b"\r\nFrom: ceo@example.co.jp\r\nTo: ", 1)
    assert not verifies(second_from, key)
    # Relaxed canonicalisation: a relay that refolds or pads a header does not break it.
    refolded = data.replace(b"\r\nSubject: It has been a while:",
                            b"\r\nSubject:   It has been a while:\r\n\t", 1)
    assert refolded != data and verifies(refolded, key)


def test_one_click_cannot_be_added_to_a_message_that_does_not_offer_it(key: Path) -> None:
    data = signing(key, one_click_unsubscribe=False).message(job(en_lead())).data
    assert b"List-Unsubscribe-Post" not in data
    assert "list-unsubscribe-post" in tags(data)["h"].split(":")  # signed as absent
    assert verifies(data, key)
    added = data.replace(b"\r\nMIME-Version:",
                         b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version:",
                         1)
    assert not verifies(added, key)


def test_h_lists_each_present_header_as_often_as_it_occurs() -> None:
    message = (b"From: a@x.jp\r\nReceived: x\r\nTo: b@y.jp\r\nTo: c@y.jp\r\nX-Other: 1\r\n"
               b"Subject: s\r\n\r\nbody: not a header\r\n")
    assert header_names(message) == ["from", "received", "to", "to", "x-other", "subject"]
    assert include_headers(header_names(message)) == [
        b"from", b"from", b"to", b"to", b"to", b"subject", b"subject", b"list-unsubscribe",
        b"list-unsubscribe-post"]


def test_through_a_real_smtp_relay_and_the_eml_folder(key: Path, tmp_path: Path) -> None:
    """The delivery layer's two transports get the same signed bytes, and what arrives
    verifies: dot-stuffing and CRLF handling on the wire do not disturb the signature."""
    store = db.connect(f"sqlite:///{tmp_path}/store.db")
    dkim_config = Dkim(DOMAIN, SELECTOR, key)
    sender = Sender(name="Example Corp.", address="marketing@example.co.jp",
                    postal_address="1-2-3 Marunouchi, Chiyoda-ku, Tokyo", message_id_domain=DOMAIN)
    try:
        with FaultSink() as sink:
            over_smtp = settings(smtp_url=sink.url(), mail_dir=tmp_path / "unused",
                                 dkim=dkim_config, sender=sender)
            seed(store, ["taro@example.co.jp"])
            report = deliver_due(store, over_smtp, worker=options(),
                                 build=renderer_build(Renderer(over_smtp, DELIVERY_SECRET)))
            assert report.counts["sent"] == 1, report.summary()
            [received] = sink.received
        assert received.content.startswith(b"DKIM-Signature: ")
        assert verifies(received.content, key)
        to_folder = settings(mail_dir=tmp_path / "mail", dkim=dkim_config, sender=sender)
        seed(store, ["hanako@example.co.jp"])
        report = deliver_due(store, to_folder, worker=options(),
                             build=renderer_build(Renderer(to_folder, DELIVERY_SECRET)))
        assert report.counts["sent"] == 1, report.summary()
        [eml] = list((tmp_path / "mail").glob("*.eml"))
        assert verifies(eml.read_bytes(), key)
        with store.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE status = 'sent'")
                                ).scalar_one() == 2
    finally:
        store.dispose()


# ---------------------------------------------------------------- keys


def test_a_missing_or_unusable_key_is_a_clear_error_naming_the_file(
        tmp_path: Path, key: Path) -> None:
    missing = tmp_path / "nope.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    public = tmp_path / "public.pem"
    public.write_bytes(subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"],
                                      check=True, capture_output=True).stdout)
    encrypted = tmp_path / "encrypted.pem"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:x",
                    "-out", str(encrypted)], check=True, capture_output=True)
    weak = openssl_key(tmp_path / "weak.pem", 512)
    under_a_file = garbage / "dkim.pem"
    cases = {missing: "no such file", tmp_path: "is a folder", under_a_file: "cannot be read",
             garbage: "not a PEM RSA private key", empty: "not a PEM RSA private key",
             public: "not a PEM RSA private key", encrypted: "encrypted",
             weak: "512-bit RSA is too short"}
    for path, problem in cases.items():
        with pytest.raises(DkimError) as caught:
            read_key(path)
        assert str(path) in str(caught.value) and problem in str(caught.value), caught.value
        # The renderer reads the key when it is made: before any message is claimed or built.
        with pytest.raises(ConfigError, match=re.escape(str(path))):
            Renderer(settings(dkim=Dkim(DOMAIN, SELECTOR, path)), SECRET)


def test_a_d_not_aligned_with_from_is_refused_at_start(key: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DkimError, match=r"d=other-company\.com is not aligned with the From "
                                        r"domain example\.co\.jp"):
        Renderer(settings(dkim=Dkim("other-company.com", SELECTOR, key)), SECRET)
    Renderer(settings(dkim=Dkim("other-company.com", SELECTOR, key, allow_unaligned=True)),
             SECRET)
    Renderer(settings(dkim=Dkim("mail.example.co.jp", SELECTOR, key)), SECRET)  # same org
    # A lead's owner on another domain (not in [owners]): signed, with one warning per domain.
    renderer = signing(key)
    lead = ja_lead(owner="sato@partner-firm.com")
    with caplog.at_level(logging.WARNING, logger="engine.mail"):
        for _ in range(3):
            data = renderer.message(job(lead, sender_owner=True)).data
    assert verifies(data, key)
    warnings = [r for r in caplog.records if "partner-firm.com" in r.getMessage()]
    assert len(warnings) == 1


def test_organisational_domains() -> None:
    assert organisational_domain("mail.example.co.jp") == "example.co.jp"
    assert organisational_domain("example.co.jp") == "example.co.jp"
    assert organisational_domain("news.example.com") == "example.com"
    assert organisational_domain("a.b.example.com.au") == "example.com.au"
    assert organisational_domain("Example.DE.") == "example.de"
    assert aligned("marketing.example.co.jp", "example.co.jp")
    assert not aligned("example.co.jp", "other.co.jp")
    assert not aligned("example.co.jp", "example.com")


def test_signer_load_reads_the_key_once(key: Path, tmp_path: Path) -> None:
    copy = tmp_path / "key.pem"
    copy.write_bytes(key.read_bytes())
    signer = Signer.load(Dkim(DOMAIN, SELECTOR, copy), ["marketing@example.co.jp"])
    copy.unlink()  # rotated away while running: messages are still signed with what was read
    data = signer.sign(b"From: marketing@example.co.jp\r\nSubject: x\r\n\r\nhello\r\n",
                       "marketing@example.co.jp")
    assert verifies(data, key)


# ---------------------------------------------------------------- settings


def test_dkim_settings_from_file_and_environment(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text('[dkim]\ndomain = "Example.co.jp"\nselector = "s2026"\n'
                    'key = "/etc/nurture/dkim.pem"\n', encoding="utf-8")
    assert load_settings(toml, environ={}).dkim == \
        Dkim("example.co.jp", "s2026", Path("/etc/nurture/dkim.pem"))
    env = {"ENGINE_DKIM_SELECTOR": "s2027", "ENGINE_DKIM_KEY": "/run/secrets/dkim",
           "ENGINE_DKIM_ALLOW_UNALIGNED": "yes"}
    assert load_settings(toml, environ=env).dkim == \
        Dkim("example.co.jp", "s2027", Path("/run/secrets/dkim"), allow_unaligned=True)
    bare = tmp_path / "bare.toml"
    bare.write_text("", encoding="utf-8")
    assert load_settings(bare, environ={}).dkim is None
    only_env = {"ENGINE_DKIM_DOMAIN": "example.co.jp", "ENGINE_DKIM_SELECTOR": "a",
                "ENGINE_DKIM_KEY": "k.pem"}
    assert load_settings(bare, environ=only_env).dkim == Dkim("example.co.jp", "a", Path("k.pem"))


@pytest.mark.parametrize(("body", "problem"), [
    ('[dkim]\ndomain = "example.co.jp"\nselector = "s"\n', "missing: key"),
    ('[dkim]\nkey = "k.pem"\n', "missing: domain, selector"),
    ('[dkim]\ndomain = "exa mple.jp"\nselector = "s"\nkey = "k"\n', "not a domain name"),
    ('[dkim]\ndomain = "example.jp\\r\\nX: y"\nselector = "s"\nkey = "k"\n', "not a domain"),
    ('[dkim]\ndomain = "example.jp"\nselector = "s;x=1"\nkey = "k"\n', "selector"),
    ('[dkim]\ndomain = "example.jp"\nselector = "s"\nkey = "k"\nalgo = "ed25519"\n',
     "unknown key(s) in [dkim]: algo"),
    ('[dkim]\ndomain = "example.jp"\nselector = "s"\nkey = "k"\nallow_unaligned = "yes"\n',
     "true or false"),
    ('dkim = "example.jp"\n', "must be a table"),
])
def test_bad_dkim_settings_are_refused(tmp_path: Path, body: str, problem: str) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_settings(toml, environ={})


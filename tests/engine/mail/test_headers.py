"""The unsubscribe headers (RELIABILITY T-C1, T-C4): ``List-Unsubscribe`` always, with a mailto
when one is configured; ``List-Unsubscribe-Post`` exactly when one-click is on, and never when
the deployment's unsubscribe URL is not one-click (zulip#28248); the settings that choose."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from engine.config import ConfigError, load_settings
from engine.mail import mime, tokens
from engine.mail.errors import HeaderError
from engine.mail.render import MailJob, Renderer
from tests.engine.mail.conftest import AT, SECRET, en_lead, ja_lead, settings

URL = r"<https://t\.example\.co\.jp/u/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)>"


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def built(**overrides: Any) -> tuple[bytes, EmailMessage]:
    renderer = Renderer(settings(**overrides), SECRET)
    data = renderer.message(MailJob("dormant/intro.html", ja_lead(), "revive_dormant", "intro",
                                    outbox_id=7, at=AT)).data
    return data, parse(data)


def test_one_click_on_by_default_exactly_once() -> None:
    data, msg = built()
    assert msg.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert data.count(b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") == 1
    assert len(msg.get_all("List-Unsubscribe") or []) == 1
    value = msg["List-Unsubscribe"]
    match = re.fullmatch(URL, value)
    assert match, value
    token = tokens.verify(SECRET, match.group(1), "unsubscribe")
    assert token is not None and token.outbox_id == 7


def test_one_click_off_omits_the_post_header_and_keeps_list_unsubscribe() -> None:
    data, msg = built(one_click_unsubscribe=False)
    assert b"List-Unsubscribe-Post" not in data and "One-Click" not in data.decode("ascii")
    assert re.fullmatch(URL, msg["List-Unsubscribe"])
    # The same renderer settings, other languages: every skeleton follows the setting.
    renderer = Renderer(settings(one_click_unsubscribe=False), SECRET)
    english = renderer.message(MailJob("dormant/intro.html", en_lead(), "f", "s", at=AT)).data
    assert b"List-Unsubscribe-Post" not in english and b"List-Unsubscribe: <https://" in english


def test_a_configured_mailbox_adds_a_mailto_after_the_https_uri() -> None:
    data, msg = built(unsubscribe_mailto="unsubscribe@example.co.jp")
    value = " ".join(msg["List-Unsubscribe"].split())
    match = re.fullmatch(URL + r", <mailto:unsubscribe@example\.co\.jp\?subject=unsubscribe>",
                         value)
    assert match, value
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Folded after the comma (RFC 2369 allows whitespace there); no line over 998 octets.
    assert b">,\r\n <mailto:unsubscribe@example.co.jp?subject=unsubscribe>\r\n" in data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    _, without = built()
    assert "mailto" not in without["List-Unsubscribe"]


def test_the_list_header_value_is_checked() -> None:
    assert mime.list_unsubscribe("https://t/u/x") == "<https://t/u/x>"
    with pytest.raises(HeaderError):
        mime.list_unsubscribe("https://t/u/x\r\nBcc: a@b.c")
    with pytest.raises(HeaderError):
        mime.list_unsubscribe("https://t/u/x", "a@b.c\nBcc: d@e.f")


def test_notifications_carry_no_list_headers() -> None:
    renderer = Renderer(settings(unsubscribe_mailto="u@example.co.jp"), SECRET)
    data = renderer.notification("alerts/revived.txt", ja_lead(), "revive_dormant", "notify",
                                 "cs@example.co.jp", at=AT).data
    assert b"List-Unsubscribe" not in data


@pytest.mark.parametrize(("env", "file", "expected"), [
    ({}, "", True),
    ({}, "one_click_unsubscribe = false\n", False),
    ({"ENGINE_ONE_CLICK_UNSUBSCRIBE": "false"}, "", False),
    ({"ENGINE_ONE_CLICK_UNSUBSCRIBE": "0"}, "one_click_unsubscribe = true\n", False),
    ({"ENGINE_ONE_CLICK_UNSUBSCRIBE": " Yes "}, "one_click_unsubscribe = false\n", True),
    ({"ENGINE_ONE_CLICK_UNSUBSCRIBE": ""}, "one_click_unsubscribe = false\n", False),
])
def test_the_one_click_setting(tmp_path: Path, env: dict[str, str], file: str,
                               expected: bool) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text(file, encoding="utf-8")
    assert load_settings(toml, environ=env).one_click_unsubscribe is expected


def test_the_mailto_setting(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text('unsubscribe_mailto = "unsubscribe@example.co.jp"\n', encoding="utf-8")
    assert load_settings(toml, environ={}).unsubscribe_mailto == "unsubscribe@example.co.jp"
    assert load_settings(toml, environ={"ENGINE_UNSUBSCRIBE_MAILTO": "u+news@mail.example.jp"}
                         ).unsubscribe_mailto == "u+news@mail.example.jp"
    toml.write_text("", encoding="utf-8")
    assert load_settings(toml, environ={}).unsubscribe_mailto is None


@pytest.mark.parametrize("body", [
    'one_click_unsubscribe = "no"\n',
    'one_click_unsubscribe = 0\n',
    'unsubscribe_mailto = "not an address"\n',
    'unsubscribe_mailto = "u@example.co.jp?subject=x"\n',
    'unsubscribe_mailto = "u@example.co.jp\\r\\nBcc: x@y.z"\n',
    'unsubscribe_mailto = "<u@example.co.jp>"\n',
    'unsubscribe_mailto = "u#1@example.co.jp"\n',
    'unsubscribe_mailto = "u@localhost"\n',
    'webhook_secret = "short"\n',
    'webhook_secret = "long-enough-but-has-a\\nline-break"\n',
])
def test_bad_header_settings_are_refused(tmp_path: Path, body: str) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(toml, environ={})


def test_bad_environment_values_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="ENGINE_ONE_CLICK_UNSUBSCRIBE"):
        load_settings(toml, environ={"ENGINE_ONE_CLICK_UNSUBSCRIBE": "maybe"})
    assert load_settings(toml, environ={"ENGINE_WEBHOOK_SECRET": "x" * 32}).webhook_secret == \
        "x" * 32

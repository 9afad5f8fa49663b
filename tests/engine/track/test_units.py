"""The pure parts: bot reasons, landing URLs, UTM settings, form bodies, token shapes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import ConfigError
from engine.mail.tokens import sign
from engine.track import bots
from engine.track.bodies import BadForm, parse_form
from engine.track.landing import (
    ascii_url,
    landing_url,
    on_site,
    origin_of,
    safe_link,
    without_query,
    without_visitor_token,
)
from engine.track.settings import Limits, fill_utm, load_track_settings, parse_limits, parse_utm
from engine.track.tokens import check
from tests.engine.track.conftest import SECRET, SITE, T0

PEOPLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Thunderbird/133.0",
]


@pytest.mark.parametrize("agent", PEOPLE)
def test_mail_clients_of_people_are_not_flagged(agent: str) -> None:
    assert bots.classify("GET", agent, T0 - timedelta(hours=1), T0, 10.0) is None


def test_the_reasons_in_order() -> None:
    soon = T0 - timedelta(seconds=3)
    assert bots.classify("HEAD", "curl/8", soon, T0, 10) == "head"
    assert bots.classify("GET", None, soon, T0, 10) == "no_user_agent"
    assert bots.classify("GET", "Go-http-client/1.1", soon, T0, 10) == "scanner"
    assert bots.classify("GET", "Mozilla/5.0", soon, T0, 10) == "privacy_proxy"
    assert bots.classify("get", PEOPLE[0], soon, T0, 10) == "too_soon"
    assert bots.classify("GET", PEOPLE[0], None, T0, 10) is None  # never sent: no window


def test_safe_links() -> None:
    assert safe_link("https://www.example.co.jp/a?b=c#d") == "https://www.example.co.jp/a?b=c#d"
    assert safe_link("HTTP://Example.com") == "HTTP://Example.com"
    for bad in ("javascript:alert(1)", "//evil", "/relative", "mailto:a@b.c", "https:evil",
                "https://a b", "https://a\tb", "https://a.example/\n", "https://a@b.example",
                "https://a.example\\b", "https://a.example:x/", None, ""):
        assert safe_link(bad) is None, bad


def test_origins_and_site_membership() -> None:
    assert origin_of("https://WWW.Example.co.jp:443/x") == "https://www.example.co.jp"
    assert origin_of("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    assert on_site(f"{SITE}/pricing", (SITE,))
    assert not on_site("https://www.example.co.jp.evil.example/", (SITE,))
    assert not on_site("https://evil.example/?https://www.example.co.jp", (SITE,))
    assert not on_site("https://www.example.co.jp:99999/", (SITE,))


def test_landing_urls() -> None:
    utm = [("utm_source", "nurture"), ("utm_medium", "email")]
    assert landing_url(f"{SITE}/a", (SITE,), "T.k", utm) == (
        f"{SITE}/a?utm_source=nurture&utm_medium=email&_nv=T.k")
    assert landing_url(f"{SITE}/a?x=%20y&utm_source=crm&_nv=old#f", (SITE,), "T.k", utm) == (
        f"{SITE}/a?x=%20y&utm_source=crm&utm_medium=email&_nv=T.k#f")
    assert landing_url("https://other.example/a?b", (SITE,), "T.k", utm) == (
        "https://other.example/a?b")
    assert landing_url(f"{SITE}/a", (SITE,), None, []) == f"{SITE}/a"
    assert without_visitor_token(f"{SITE}/a?_nv=T.k&b=1#x") == f"{SITE}/a?b=1"
    assert without_query("https://www.google.com/search?q=x#y") == "https://www.google.com/search"
    assert ascii_url("https://例え.jp:8443/料金?q=あ#い") == (
        "https://xn--r8jz45g.jp:8443/%E6%96%99%E9%87%91?q=%E3%81%82#%E3%81%84")


def test_utm_settings() -> None:
    utm = parse_utm({"utm_source": "nurture", "utm_campaign": "{flow}-{step}",
                     "utm_content": "{template}", "utm_term": "{campaign}"})
    assert fill_utm(utm, {"flow": "revive", "step": "intro", "template": "a.html",
                          "campaign": None}) == [
        ("utm_source", "nurture"), ("utm_campaign", "revive-intro"), ("utm_content", "a.html")]
    for bad in ({"source": "x"}, {"utm_source": ""}, {"utm_source": 5}, {"utm_x": "{lead}"},
                {"utm_x": "{flow.__class__}"}, {"utm_x": "a\nb"}, {"utm_x": "x" * 201}, ["x"]):
        with pytest.raises(ConfigError):
            parse_utm(bad)


def test_utm_and_origins_from_engine_toml(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text('[tracking]\nsite_origins = ["https://WWW.example.co.jp"]\n'
                    '[tracking.utm]\nutm_source = "nurture"\n', encoding="utf-8")
    track = load_track_settings(("https://WWW.example.co.jp",), toml)
    assert track.site_origins == (SITE,) and track.utm == (("utm_source", "nurture"),)
    with pytest.raises(ConfigError):
        load_track_settings(("https://www.example.co.jp/path",), toml)
    toml.write_text("[tracking.utm]\nutm_source = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_track_settings((), toml)
    assert load_track_settings((), tmp_path / "absent.toml").utm == ()


def test_form_bodies() -> None:
    assert parse_form(b"a=1&b=%E3%81%82&a=2&c=", "application/x-www-form-urlencoded", 10) == {
        "a": ["1", "2"], "b": ["あ"], "c": [""]}
    multipart = (b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                 b"One-Click\r\n--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n"
                 b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xe5\xb1\xb1\r\n--XyZ--\r\n")
    assert parse_form(multipart, "multipart/form-data; boundary=XyZ", 10) == {
        "List-Unsubscribe": ["One-Click"], "n": ["山"]}
    for body, kind in [(b"a=1&" * 11, "application/x-www-form-urlencoded"),
                       (b"\xff", "application/x-www-form-urlencoded"),
                       (multipart, "multipart/form-data; boundary=Other"),
                       (multipart, "multipart/form-data"),
                       (b"x", "text/plain")]:
        with pytest.raises(BadForm):
            parse_form(body, kind, 10)


def test_token_shapes_are_checked_before_verifying() -> None:
    token = sign(SECRET, "click", outbox_id=7)
    assert check(SECRET, token, "click") is not None
    for bad in ("あ.い", token + "あ", token.replace(".", ".."), " " + token, "", None, 7,
                token + "=" * 200):
        assert check(SECRET, bad, "click") is None


def test_limits_from_engine_toml(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("[tracking.limits]\nrate_mail = [200, 1000]\ncollect_body = 8192\n"
                    "machine_seconds = 5\n", encoding="utf-8")
    limits = load_track_settings((), toml).limits
    assert (limits.rate_mail, limits.collect_body, limits.machine_seconds) == (
        (200.0, 1000), 8192, 5.0)
    assert limits.rate_form == Limits().rate_form
    for bad in ({"nope": 1}, {"rate_mail": 5}, {"rate_mail": [1, 0]}, {"rate_mail": [1, 2.5]},
                {"collect_body": 0}, {"collect_body": "1"}, {"collect_body": True},
                {"machine_seconds": -1}, []):
        with pytest.raises(ConfigError):
            parse_limits(bad)

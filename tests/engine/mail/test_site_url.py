"""The company site's base URL (`site_url`, `ENGINE_SITE_URL`): read and checked with the
settings, seen by templates as ``{{ site_url }}``, used by every link of the real templates to
the site, and the links built on it still tracked (their stored targets start with it)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from engine.config import DEFAULT_SITE_URL, ConfigError, Settings, load_settings
from engine.mail import tokens
from engine.mail.render import Built, MailJob, Renderer
from tests.engine.mail.conftest import SECRET, TEMPLATES, en_lead, ja_lead, page, settings
from tests.engine.mail.test_check import GOOD_ALERT, GOOD_PAGE, check, project

TRACKER = "https://t.example.co.jp"
# Another host, a port and a path: a path-less default would hide a template that drops it.
SITE = "http://127.0.0.1:8443/jp"
HREF = re.compile(r'href="([^"]*)"')
MARKETING = sorted(str(p.relative_to(TEMPLATES / "ja")) for p in (TEMPLATES / "ja").rglob("*.html")
                   if not p.name.startswith("_"))


def load(tmp_path: Path, toml: str, **env: str) -> Settings:
    file = tmp_path / "engine.toml"
    file.write_text(toml, encoding="utf-8")
    return load_settings(file, environ=env)


def build(site_url: str, template: str, lead: dict[str, Any], outbox_id: int = 7) -> Built:
    renderer = Renderer(settings(site_url=site_url), SECRET)
    return renderer.message(MailJob(template, lead, "recycle", "checkin", outbox_id=outbox_id))


def html_of(built: Built) -> str:
    message = email.message_from_bytes(built.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


# ---------------------------------------------------------------- the setting


def test_the_default_is_the_example_site(tmp_path: Path) -> None:
    assert load(tmp_path, "").site_url == DEFAULT_SITE_URL == "https://www.example.co.jp"
    assert Settings().site_url == DEFAULT_SITE_URL


def test_from_the_file_and_the_environment_which_wins(tmp_path: Path) -> None:
    toml = 'site_url = "https://www.example.com/"\n'
    assert load(tmp_path, toml).site_url == "https://www.example.com"  # no trailing slash
    assert load(tmp_path, toml, ENGINE_SITE_URL="http://127.0.0.1:8443/jp/").site_url == SITE
    assert load(tmp_path, "", ENGINE_SITE_URL="https://例え.jp").site_url == "https://例え.jp"


@pytest.mark.parametrize("value", [
    "www.example.co.jp",                       # no scheme: the links would be relative
    "ftp://www.example.co.jp",
    "javascript:alert(1)//",
    "https://",
    "https:///pricing",
    "https://www.example.co.jp/?ref=mail",     # a path after a query lands in the query
    "https://www.example.co.jp/#top",
    "https://www.example.co.jp/a b",
    'https://www.example.co.jp/"><script>',
    "https://www.example.co.jp/\r\nBcc: x@example.com",
    "https://user:secret@www.example.co.jp",
    "https://www.example.co.jp:port",
    "https://www.example.co.jp:99999",
])
def test_unusable_site_urls_are_refused_when_the_settings_are_read(tmp_path: Path,
                                                                   value: str) -> None:
    with pytest.raises(ConfigError, match="site URL"):
        load(tmp_path, "", ENGINE_SITE_URL=value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r") \
        .replace("\n", "\\n")
    with pytest.raises(ConfigError, match="site URL"):
        load(tmp_path, f'site_url = "{escaped}"\n')


def test_a_value_that_is_not_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="site URL"):
        load(tmp_path, "site_url = 8443\n")


# ---------------------------------------------------------------- the real templates


def test_no_template_writes_the_site_out() -> None:
    """Every link to the company site goes through `site_url`, so changing it moves them all."""
    written = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*") if p.is_file()
               and "www.example.co.jp" in p.read_text(encoding="utf-8")]
    assert written == []


@pytest.mark.parametrize("lead", [ja_lead(), en_lead()], ids=["ja", "en"])
@pytest.mark.parametrize("template", MARKETING)
def test_a_message_links_to_the_configured_site_through_the_tracker(
        template: str, lead: dict[str, Any]) -> None:
    built = build(SITE, template, lead)
    default = build(DEFAULT_SITE_URL, template, lead)
    # Every link of the real templates is to the site; the paths are kept as they were.
    assert built.links and all(t.startswith(SITE + "/") for t in built.links), built.links
    assert [t[len(SITE):] for t in built.links] \
        == [t[len(DEFAULT_SITE_URL):] for t in default.links]
    assert all(t.startswith(DEFAULT_SITE_URL + "/") for t in default.links)
    # In the message they are all tracked: no target in the mail, only the tracker's URLs.
    html = html_of(built)
    hrefs = [h for h in HREF.findall(html) if h.startswith(("http:", "https:"))]
    clicks = [h for h in hrefs if h.startswith(f"{TRACKER}/c/")]
    assert not [h for h in hrefs if h not in clicks and f"{TRACKER}/u/" not in h], hrefs
    assert SITE not in html and "127.0.0.1" not in built.data.decode("ascii", "replace")
    numbers = set()
    for href in clicks:
        found = re.fullmatch(rf"{re.escape(TRACKER)}/c/([^/]+)/(\d+)", href)
        assert found, href
        signed = tokens.verify(SECRET, found.group(1), "click")
        assert signed is not None and signed.outbox_id == 7
        numbers.add(int(found.group(2)))
    assert numbers == set(range(len(built.links)))


def test_the_setting_reaches_the_rendered_message_from_the_environment(tmp_path: Path) -> None:
    from_env = load(tmp_path, 'site_url = "https://www.example.com"\n', ENGINE_SITE_URL=SITE)
    renderer = Renderer(from_env, SECRET)
    built = renderer.message(MailJob("dormant/intro.html", ja_lead(), "revive_dormant", "intro",
                                     outbox_id=3))
    assert built.links == [f"{SITE}/customers/whats-new?utm_medium=email"
                           "&utm_campaign=revive_dormant"]


# ---------------------------------------------------------------- in a template of one's own


def test_site_url_prints_as_text_and_builds_links(library: Any) -> None:
    root = library({"ja/x.html": page('<p>{{ site_url }}</p>'
                                      '<a href="{{ site_url }}/a?b=1&amp;c={{ step }}">a</a>'
                                      '<a href="{{ site_url }}">top</a>'
                                      '<a data-notrack href="{{ site_url }}/privacy">p</a>')})
    renderer = Renderer(settings(site_url="https://www.example.com/jp"), SECRET, root)
    out = renderer.render(MailJob("x.html", ja_lead(), "f", "s1", outbox_id=1))
    assert out.links == ["https://www.example.com/jp/a?b=1&c=s1", "https://www.example.com/jp"]
    assert ">https://www.example.com/jp</p>" in out.html  # the layout styles the <p>
    assert 'href="https://www.example.com/jp/privacy"' in out.html  # not tracked, as asked


# ---------------------------------------------------------------- engine check


def test_check_accepts_site_url_in_marketing_mail_and_alerts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page_text = GOOD_PAGE.replace("{{ greeting }}",
                                  '{{ greeting }} <a href="{{ site_url }}/pricing">料金</a>')
    alert = GOOD_ALERT.replace("{{ lead_url }}", "{{ lead_url }} {{ site_url }}/admin")
    code, out = check(project(tmp_path, page_text, alert), monkeypatch)
    assert code == 0, out


def test_check_suggests_site_url_for_a_misspelling(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    page_text = GOOD_PAGE.replace("{{ greeting }}", '<a href="{{ site_ur }}/pricing">料金</a>')
    code, out = check(project(tmp_path, page_text), monkeypatch)
    assert code == 1
    assert "error[E0502]: unknown name `site_ur`" in out and "did you mean `site_url`?" in out

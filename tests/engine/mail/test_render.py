"""Rendering: personalisation and its fallbacks, language folders, tracked links and their
opt-outs, the open pixel, sender substitution, CSS inlined once, and the text part equal to
html2text of the HTML part for every template the flows use."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.mail import tokens
from engine.mail.errors import TemplateError
from engine.mail.render import MailJob, Renderer
from engine.mail.text import text_of
from tests.engine.mail.conftest import SECRET, TEMPLATES, en_lead, ja_lead, page, settings

HTML_TEMPLATES = sorted(str(p.relative_to(TEMPLATES / "ja")) for p in
                        (TEMPLATES / "ja").rglob("*.html") if not p.name.startswith("_"))
HREF = re.compile(r'href="([^"]*)"')


def job(template: str, lead: dict[str, Any], **kw: Any) -> MailJob:
    return MailJob(template, lead, "revive_dormant", "intro", outbox_id=9, **kw)


def squeeze(text: str) -> str:
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n\n", text)).strip()


def test_every_flow_template_exists_in_both_languages() -> None:
    ja = {str(p.relative_to(TEMPLATES / "ja")) for p in (TEMPLATES / "ja").rglob("*")
          if p.is_file()}
    en = {str(p.relative_to(TEMPLATES / "en")) for p in (TEMPLATES / "en").rglob("*")
          if p.is_file()}
    assert ja == en
    assert len(HTML_TEMPLATES) == 39


@pytest.mark.parametrize("lead", [ja_lead(), en_lead(), {"email": "x@example.com"}],
                         ids=["ja", "en", "nothing-known"])
@pytest.mark.parametrize("template", HTML_TEMPLATES)
def test_text_part_is_html2text_of_the_html_part(renderer: Renderer, template: str,
                                                 lead: dict[str, Any]) -> None:
    out = renderer.render(job(template, lead, sender_owner=True))
    assert squeeze(out.text) == squeeze(text_of(out.html))
    assert out.subject and "{" not in out.subject and "\n" not in out.subject
    assert out.preheader
    assert "unsubscribe" in out.html.lower() or "配信停止" in out.html
    assert "1-2-3 Marunouchi" in out.html and "Example Corp." in out.text


def test_names_fall_back_when_unknown(renderer: Renderer) -> None:
    ja = renderer.render(job("dormant/intro.html", ja_lead(first_name=None, last_name=None,
                                                           company=None)))
    assert "ご担当者様" in ja.text and "None" not in ja.text
    en = renderer.render(job("dormant/intro.html", en_lead(first_name=None, last_name="")))
    assert "Hello," in en.text and "None" not in en.text
    known = renderer.render(job("dormant/intro.html", ja_lead()))
    assert "株式会社サンプル商事\n山田 様" in known.text


def test_language_folders(renderer: Renderer) -> None:
    assert 'lang="en"' in renderer.render(job("dormant/intro.html", en_lead())).html
    for language in (None, "zh", "", "JA"):
        out = renderer.render(job("dormant/intro.html", ja_lead(language=language)))
        assert 'lang="ja"' in out.html


def test_a_template_missing_in_one_language_comes_from_the_other(
        library: Callable[[dict[str, str]], Path]) -> None:
    root = library({"en/only/english.html": page("<p>{{ greeting }}</p>", "English only")})
    r = Renderer(settings(), SECRET, root)
    out = r.render(job("only/english.html", ja_lead()))
    assert out.subject == "English only" and 'lang="en"' in out.html
    with pytest.raises(TemplateError, match="no template 'only/missing.html'"):
        r.render(job("only/missing.html", ja_lead()))
    for bad in ("../secrets.html", "/etc/passwd", "a\\b.html"):
        with pytest.raises(TemplateError, match="not a template name"):
            r.render(job(bad, ja_lead()))


LINKS = """
<p><a href="https://www.example.co.jp/a?x=1&amp;y=2">a</a>
<a href="https://www.example.co.jp/c/{{ lead.company|urlencode }}?utm_campaign={{ flow }}">c</a>
<a href="{{ 'https://www.example.co.jp/dyn' }}">dynamic</a>
<a href="http://www.example.co.jp/{% if lead.stage == 'customer' %}customers{% else %}leads{%
  endif %}">stmt</a>
<a href="https://www.example.co.jp/a?x=1&amp;y=2">a again</a>
<a data-notrack href="https://www.example.co.jp/private">not tracked</a>
<a href="mailto:cs@example.co.jp">mail</a> <a href="tel:+81-3-0000-0000">call</a>
<a href="#top">top</a> <a href="javascript:alert(1)">js</a> <a href="//evil.example/x">proto</a>
<a href="/relative">relative</a></p>
"""


def test_links_are_tracked_once_per_target(library: Callable[[dict[str, str]], Path]) -> None:
    root = library({"ja/t/links.html": page(LINKS)})
    r = Renderer(settings(), SECRET, root)
    out = r.render(job("t/links.html", ja_lead()))
    assert out.links == [
        "https://www.example.co.jp/a?x=1&y=2",
        "https://www.example.co.jp/c/%E6%A0%AA%E5%BC%8F%E4%BC%9A%E7%A4%BE%E3%82%B5%E3%83%B3"
        "%E3%83%97%E3%83%AB%E5%95%86%E4%BA%8B?utm_campaign=revive_dormant",
        "https://www.example.co.jp/dyn",
        "http://www.example.co.jp/customers",
    ]
    hrefs = HREF.findall(out.html)
    tracked = [h for h in hrefs if h.startswith("https://t.example.co.jp/c/")]
    assert [h.rsplit("/", 1)[1] for h in tracked] == ["0", "1", "2", "3", "0"]
    click = {h.split("/")[4] for h in tracked}
    assert len(click) == 1  # one token for the message, the index outside it
    token = tokens.verify(SECRET, click.pop(), "click")
    assert token is not None and token.outbox_id == 9
    for kept in ("https://www.example.co.jp/private", "mailto:cs@example.co.jp",
                 "tel:+81-3-0000-0000", "#top", "javascript:alert(1)", "//evil.example/x",
                 "/relative"):
        assert kept in hrefs
    assert "data-notrack" not in out.html
    unsubscribe = [h for h in hrefs if "/u/" in h]
    assert len(unsubscribe) == 1 and unsubscribe[0].startswith("https://t.example.co.jp/u/")
    assert tokens.verify(SECRET, unsubscribe[0].rsplit("/", 1)[1], "unsubscribe") is not None
    pixel = re.search(r'<img src="https://t\.example\.co\.jp/o/([^"]+)\.gif"', out.html)
    assert pixel and tokens.verify(SECRET, pixel.group(1), "open") is not None
    # the text part points at the same numbers
    assert f"{tracked[1]})" in out.text and "(mailto:cs@example.co.jp)" in out.text


def test_three_signatures_per_message_whatever_the_links(
        library: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = library({"ja/t/links.html": page(LINKS * 5)})
    r = Renderer(settings(), SECRET, root)
    r.render(job("t/links.html", ja_lead()))  # prepared and cached
    calls: list[str] = []
    real = tokens.sign

    def counting(secret: bytes, purpose: str, *args: Any, **kw: Any) -> str:
        calls.append(purpose)
        return real(secret, purpose, *args, **kw)

    monkeypatch.setattr(tokens, "sign", counting)
    r.message(job("t/links.html", ja_lead()))
    assert sorted(calls) == ["click", "open", "unsubscribe"]


def test_css_is_inlined_and_media_queries_kept(renderer: Renderer) -> None:
    html = renderer.render(job("dormant/case_study.html", ja_lead())).html
    assert re.search(r'<p[^>]* style="[^"]*margin: 0 0 16px', html)
    assert re.search(r'class="button"[^>]* style="[^"]*background: #17467d', html)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and styles[0].strip().startswith("@media")


def test_templates_are_prepared_once(renderer: Renderer) -> None:
    first = renderer.prepared("dormant/tips.html", ja_lead())
    renderer.render(job("dormant/tips.html", ja_lead()))
    assert renderer.prepared("dormant/tips.html", ja_lead(last_name="佐藤")) is first


def test_sender_substitution(renderer: Renderer) -> None:
    owner = renderer.message(job("dormant/intro.html", ja_lead(), sender_owner=True,
                                 sender_address="cs@example.co.jp"))
    assert owner.sender == "tanaka.k@example.co.jp"
    assert b"Reply-To: tanaka.k@example.co.jp" in owner.data
    text = renderer.render(job("dormant/intro.html", ja_lead(), sender_owner=True)).text
    assert "田中 健です" in text  # the owner introduces themself, and signs
    unknown = renderer.message(job("dormant/intro.html", ja_lead(owner="sato.m@example.co.jp"),
                                   sender_owner=True))
    assert b'From: "sato.m" <sato.m@example.co.jp>' in unknown.data
    fallback = renderer.message(job("dormant/intro.html", ja_lead(owner=None),
                                    sender_owner=True, sender_address="cs@example.co.jp"))
    assert fallback.sender == "cs@example.co.jp"
    assert b'From: "Example Corp." <cs@example.co.jp>' in fallback.data
    assert b"Reply-To: support@example.co.jp" in fallback.data
    fixed = renderer.message(job("dormant/intro.html", ja_lead(), sender_owner=False,
                                 sender_address="seminar@example.co.jp"))
    assert fixed.sender == "seminar@example.co.jp"
    default = renderer.message(job("dormant/intro.html", ja_lead()))
    assert default.sender == "marketing@example.co.jp"


def test_subject_matches_the_sent_subject(renderer: Renderer) -> None:
    j = job("dormant/intro_resend.html", ja_lead())
    assert renderer.subject(j) == renderer.message(j).subject == \
        "【3分で読めます】この半年の新機能まとめ（株式会社サンプル商事様向け）"


def test_helpers_format_dates_and_numbers(renderer: Renderer) -> None:
    ja = renderer.render(job("renewal/reconnect.html", ja_lead(), sender_owner=True)).text
    assert "2027年3月31日" in ja and "（勘定奉行）" in ja
    en = renderer.render(job("renewal/reconnect.html",
                             en_lead(custom={"renewal_date": "2027-03-31"}))).text
    assert "on March 31, 2027" in en
    roi = renderer.render(job("mql/roi_calculator.html", ja_lead())).text
    assert "1,200名規模" in roi


def test_lead_values_are_escaped_in_html_and_plain_in_text(renderer: Renderer) -> None:
    lead = ja_lead(company='<script>alert("x")</script> & Co')
    out = renderer.render(job("dormant/intro.html", lead))
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert '<script>alert("x")</script> & Co' in out.text


def test_no_marketing_email_without_a_postal_address() -> None:
    from engine.config import Sender

    r = Renderer(settings(sender=Sender(name="Example Corp.", postal_address=" ")), SECRET)
    with pytest.raises(TemplateError, match="postal_address"):
        r.message(job("dormant/intro.html", ja_lead()))
    assert r.notification("alerts/revived.txt", ja_lead(), "f", "s", "cs@example.co.jp").data

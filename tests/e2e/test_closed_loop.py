"""The closed loop, end to end, as it runs in production, on loopback.

A dormant customer (stage customer, consent with a legal basis, a cloud user, nothing for 200
days) sits in a store with the real flows/ and templates/. `engine run --once` at T0, a business
morning in Tokyo, sends the revive_dormant intro over SMTP to a real aiosmtpd server. The test
takes that message, opens its HTML in headless Chromium, clicks the tracked link and lands on
the customer's site (a local HTTPS site with the page tag, which the templates link to through
the `site_url` setting, here ENGINE_SITE_URL), where it reads the pricing pages and a case
study. The tracking server (the `engine serve` app on uvicorn, with its own clock between T0
and T1) records the click and the page views against the lead. `engine explain` shows
`interest` rising past the goal; the next morning's tick (T1) hands the lead to inside sales
and mails the owner's alert. A second browser session (a fresh profile) takes the message's
List-Unsubscribe URL, sees the confirmation page and presses the button; no mail reaches the
lead after that.

It runs on both stores: a SQLite file, and PostgreSQL (the commands, each its own process, and
the tracking server sharing one database, as several engine processes do in production).

Clocks: `--at T` is the runtime's clock (conditions see events at or before T); the tracking
server stamps events with its own (``create_app(now=...)``); delivery stamps ``sent_at`` with
the real one. The tracking server flags clicks within 10 s of ``sent_at`` as a machine's, so T0
is a business morning at least two days after today, never a fixed date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from engine.config import load_settings
from engine.imports.config import load as load_flow_config
from engine.mail.tokens import verify
from engine.runtime.windows import SendWindow, day_allowed
from engine.store import db
from engine.store.emails import email_hash
from engine.store.keep import signing_secret
from engine.store.schema import (
    enrollments,
    events,
    identities,
    journal,
    lead_tags,
    leads,
    outbox,
    suppressions,
)
from engine.track import create_app
from engine.track.settings import load_track_settings
from tests.browser import Browser, chromium, wait_for
from tests.e2e.loopback import HttpsSite, MailCatcher, ToolMissing, skip_or_fail
from tests.engine.track.live import LiveServer
from tests.pg import free_port

ROOT = Path(__file__).resolve().parents[2]
JST = ZoneInfo("Asia/Tokyo")
# The test site's certificate is its own, made for the test (tests/e2e/loopback.py).
TRUST_THE_TEST_SITE = {"acceptInsecureCerts": True}
OWNER = "tanaka.k@example.co.jp"
LEAD = "sato.hanako@sample-shoji.example.co.jp"
COMPANY = "株式会社サンプル商事"
INTRO_SUBJECT = "ご無沙汰しております。最近の経費精算はいかがですか"
LANDING = "/customers/whats-new"
# The visit after the click: what `interest` counts (shared.flow) is +3 for the click, +10 per
# page view on "/pricing*", +5 per "/case-studies/*"; the landing page counts nothing.
TOUR = [(LANDING, "最新の活用ガイド"), ("/pricing", "料金プラン"),
        ("/pricing/enterprise", "エンタープライズプラン"),
        ("/case-studies/trading-co", "導入事例: 総合商社")]
VISIT_POINTS = 3 + 10 + 10 + 5
CLOUD_POINTS = 15
PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{title}</title>
<script async src="{tracker}/t.js"></script></head>
<body><h1>{title}</h1><p>{body}</p>{next}</body></html>"""


# ---------------------------------------------------------------- the world on loopback


@dataclass
class Clock:
    """The tracking server's clock, moved by the test."""

    at: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.at


@dataclass
class World:
    work: Path  # the working directory: flows/, templates/, engine.toml, nurture.db
    env: dict[str, str]
    store: sa.Engine
    mail: MailCatcher
    site: HttpsSite
    tracker: str
    clock: Clock
    t0: dt.datetime
    t1: dt.datetime
    ids: dict[str, int] = field(default_factory=dict)

    def engine(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An `engine` command, as an operator runs it in the working directory."""
        result = subprocess.run([sys.executable, "-m", "engine", *args], cwd=self.work,
                                env=self.env, text=True, capture_output=True, timeout=120)
        assert result.returncode == 0, f"engine {' '.join(args)}:\n{result.stderr}{result.stdout}"
        return result

    def explain(self, at: dt.datetime) -> dict[str, Any]:
        out = self.engine("explain", LEAD, "flows", "--flow", "revive_dormant", "--format",
                          "json", "--at", at.isoformat())
        doc = json.loads(out.stdout)
        assert isinstance(doc, dict)
        return doc


def business_mornings(today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """T0 and T1: 09:30 in Tokyo on two consecutive Japanese business days (no weekend, public
    holiday or New Year closing between them, so the score's decay stays small), the first at
    least two days after ``today``."""
    window = SendWindow(days="business days", skip_holidays=True)
    day = today + dt.timedelta(days=2)
    while not (day_allowed(window, "JP", day)
               and day_allowed(window, "JP", day + dt.timedelta(days=1))):
        day += dt.timedelta(days=1)
    t0 = dt.datetime.combine(day, dt.time(9, 30), JST).astimezone(dt.UTC)
    return t0, t0 + dt.timedelta(days=1)


def engine_toml(tracker: str, site: str) -> str:
    return f"""\
tracking_url = "{tracker}"

[sender]
name = "Example Corp."
address = "marketing@example.co.jp"
reply_to = "support@example.co.jp"
postal_address = "東京都千代田区丸の内1-2-3"
message_id_domain = "mail.example.co.jp"

[owners]
"{OWNER}" = "田中 健"

[tracking]
site_origins = ["{site}"]

[tracking.utm]
utm_source = "nurture"
utm_content = "{{step}}"
"""


def site_pages(tracker: str) -> dict[str, str]:
    pages = {}
    for i, (path, title) in enumerate(TOUR):
        following = TOUR[i + 1][0] if i + 1 < len(TOUR) else None
        link = f'<a id="next" href="{following}">次へ</a>' if following else ""
        pages[path] = PAGE.format(title=title, tracker=tracker, body=title, next=link)
    return pages


def seed(store: sa.Engine, t0: dt.datetime) -> dict[str, int]:
    """The dormant customer, and leads the intro must not reach (each for its own reason)."""
    base: dict[str, Any] = {
        "stage": "customer", "country": "JP", "time_zone": "Asia/Tokyo", "language": "ja",
        "employees": 300, "industry": "小売", "department": "経理部", "owner": OWNER,
        "consent": True, "legal_basis": "既存取引先（2019年ご契約）",
        "created_at": t0 - dt.timedelta(days=900), "updated_at": t0 - dt.timedelta(days=200),
        "custom": {"software_hosting": "cloud"}}
    people: dict[str, dict[str, Any]] = {
        LEAD: {"first_name": "花子", "last_name": "佐藤", "company": COMPANY,
               "title": "経理課長"},
        # Consent withdrawn: enters the flow, the policy gate blocks the email.
        "kato@no-consent.example.co.jp": {"last_name": "加藤", "consent": False},
        # A Japanese recipient without a recorded legal basis (特定電子メール法): blocked.
        "suzuki@no-basis.example.co.jp": {"last_name": "鈴木", "legal_basis": None},
        # Unsubscribed last year: suppressed by address.
        "ito@unsubscribed.example.co.jp": {"last_name": "伊藤"},
        # Active last month: not dormant, never enters.
        "yamada@active.example.co.jp": {"last_name": "山田"},
    }
    ids = {}
    with db.write_transaction(store) as conn:
        for email, values in people.items():
            ids[email] = int(conn.execute(leads.insert().values(
                email=email, **{**base, **values}).returning(leads.c.id)).scalar_one())
            # Their last sign of life: the customer portal, 200 days ago (outside every window).
            conn.execute(events.insert().values(
                lead_id=ids[email], type="page_view", url="/login", source="e2e",
                occurred_at=t0 - dt.timedelta(days=200)))
        conn.execute(events.insert().values(
            lead_id=ids["yamada@active.example.co.jp"], type="page_view", url="/pricing",
            source="e2e", occurred_at=t0 - dt.timedelta(days=20)))
        conn.execute(suppressions.insert().values(
            email_hash=email_hash("ito@unsubscribed.example.co.jp"), reason="unsubscribe",
            scope="global", source="import", created_at=t0 - dt.timedelta(days=300)))
    return ids


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "flows").symlink_to(ROOT / "flows")
    (work / "templates").symlink_to(ROOT / "templates")
    tracker_port = free_port()
    tracker = f"http://127.0.0.1:{tracker_port}"
    t0, t1 = business_mornings(dt.datetime.now(JST).date())
    store = db.connect(db_url)
    try:
        ids = seed(store, t0)
        try:
            site = HttpsSite(site_pages(tracker), tmp_path)
        except ToolMissing as exc:
            skip_or_fail(str(exc))
        with site, MailCatcher() as mail:
            (work / "engine.toml").write_text(engine_toml(tracker, site.origin), encoding="utf-8")
            # Every command reads the same engine.toml; the relay, the store and the site the
            # emails link to come from the environment, as in production. No ENGINE_SECRET:
            # the secret the store keeps is the one both sides use.
            env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
            env.update(ENGINE_DB=db_url, ENGINE_SMTP_URL=mail.url, PYTHONUTF8="1",
                       ENGINE_CONFIG=str(work / "engine.toml"), ENGINE_SITE_URL=site.origin)
            # `engine serve`, but on the test's clock: the same settings, flows and store.
            settings = load_settings(work / "engine.toml", env)
            track = load_track_settings(settings.site_origins, work / "engine.toml", env)
            clock = Clock(t0)
            app = create_app(store, settings, track, now=clock,
                             config=load_flow_config(str(work / "flows")))
            with LiveServer(app, port=tracker_port):
                yield World(work, env, store, mail, site, tracker, clock, t0, t1, ids)
    finally:
        store.dispose()


# ---------------------------------------------------------------- reading the store and mail


def select(store: sa.Engine, table: sa.Table, *where: Any) -> list[Any]:
    with store.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)
                                 .order_by(table.c[table.primary_key.columns.keys()[0]])))


def lead_events(world: World, kind: str) -> list[Any]:
    return select(world.store, events, events.c.lead_id == world.ids[LEAD], events.c.type == kind,
                  events.c.source == "tracking")


def sends_of(world: World, email: str) -> list[Any]:
    return select(world.store, outbox, outbox.c.lead_id == world.ids[email],
                  outbox.c.action == "send")


class Links(HTMLParser):
    """Every href and img src of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag == "img" and values.get("src"):
            self.images.append(str(values["src"]))


def parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    return str(html.get_content()), str(text.get_content())


def unsubscribe_url(message: EmailMessage, tracker: str) -> str:
    found = re.fullmatch(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert found, message["List-Unsubscribe"]
    assert found.group(1).startswith(f"{tracker}/u/")
    return found.group(1)


def check_intro(world: World, message: EmailMessage, row: Any) -> str:
    """The intro as a mailbox receives it; returns its HTML part."""
    assert str(message["Subject"]) == INTRO_SUBJECT
    raw_subject = next(line for line in world.mail.received[0].raw.split(b"\r\n")
                       if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in raw_subject.lower()  # RFC 2047, never raw UTF-8 in a header
    assert message["From"].addresses[0].addr_spec == OWNER
    assert message["From"].addresses[0].display_name == "田中 健"
    assert message["To"].addresses[0].addr_spec == LEAD
    assert message["Message-ID"] == row.message_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = unsubscribe_url(message, world.tracker)
    html, text = parts(message)
    links = Links()
    links.feed(html)
    web = [h for h in links.hrefs if h.startswith(("http:", "https:"))]
    tracked = [h for h in web if h.startswith(f"{world.tracker}/c/")]
    # Every web link goes through the tracker: the clicks, and the unsubscribe link itself.
    assert tracked and all(h in tracked or h == unsubscribe for h in web), web
    assert unsubscribe in links.hrefs
    assert not any(world.site.host in h for h in links.hrefs)  # no target in the mail
    assert all(h.startswith(("http:", "https:", "mailto:")) for h in links.hrefs)
    [pixel] = [s for s in links.images if s.startswith(f"{world.tracker}/o/")]
    assert pixel.endswith(".gif")
    text_links = re.findall(r"https?://[^\s)\]]+", text)
    assert text_links and all(u.startswith(world.tracker) for u in text_links), text_links
    # The targets live in the store, with the message, never in the link.
    # The target is on the configured site (ENGINE_SITE_URL), not the templates' default one.
    assert row.payload["links"] == [
        f"{world.site.origin}{LANDING}?utm_medium=email&utm_campaign=revive_dormant"]
    return html


def score(doc: dict[str, Any]) -> float:
    return float(doc["scores"]["interest"]["total"])


def section(doc: dict[str, Any], label: str) -> dict[str, Any]:
    [flow] = doc["flows"]
    found = [s for s in flow["sections"] if s["label"] == label]
    assert found, [s["label"] for s in flow["sections"]]
    return dict(found[0])


# ---------------------------------------------------------------- the browser


def read_the_mail_and_visit(world: World, browser: Browser, html: str) -> None:
    """Open the message in the browser, click its link, read the site page by page."""
    world.clock.at = world.t0 + dt.timedelta(hours=1)
    mailbox = world.work.parent / "intro.html"
    mailbox.write_text(html, encoding="utf-8")
    browser.get(mailbox.as_uri())
    assert browser.title == INTRO_SUBJECT
    wait_for(lambda: lead_events(world, "email_open"))  # the pixel, fetched by the page

    world.clock.at += dt.timedelta(minutes=2)
    browser.click(f'a[href^="{world.tracker}/c/"]')
    wait_for(lambda: browser.current_url.startswith(f"{world.site.origin}{LANDING}"))
    landed = urlsplit(browser.current_url)
    query = parse_qs(landed.query)
    assert query["utm_medium"] == ["email"] and query["utm_source"] == ["nurture"]
    assert query["utm_content"] == ["intro"] and "_nv" not in query  # the tag removed it
    assert any("_nv=" in r for r in world.site.requests)  # but the landing page had it
    wait_for(lambda: len(lead_events(world, "page_view")) == 1)

    for count, (path, title) in enumerate(TOUR[1:], start=2):
        world.clock.at += dt.timedelta(minutes=3)
        browser.click("a#next")
        wait_for(lambda: len(lead_events(world, "page_view")) == count)  # noqa: B023
        assert browser.title == title and urlsplit(browser.current_url).path == path

    secret = signing_secret(world.store)
    visit = verify(secret, browser.cookies()["_nv"], "visit")
    assert visit is not None and visit.lead_id == world.ids[LEAD]
    [identity] = select(world.store, identities)
    assert (identity.visitor_id, identity.lead_id) == (browser.cookies()["_nvid"],
                                                        world.ids[LEAD])


def unsubscribe_in_browser(world: World, browser: Browser, url: str) -> None:
    """The reader's other device: the List-Unsubscribe URL, the page, the button."""
    browser.get(url)
    assert browser.title == "配信停止の確認"
    assert "s***@sample-shoji.example.co.jp" in browser.execute("return document.body.innerText")
    assert select(world.store, suppressions, suppressions.c.email_hash == email_hash(LEAD)) == []
    browser.click("form button")
    wait_for(lambda: browser.title == "配信を停止しました")


def queue_send(world: World, intro: Any, step: str, template: str, due: dt.datetime) -> int:
    """Another email for the lead, due at ``due``, as a tick writes one."""
    with db.write_transaction(world.store) as conn:
        return int(conn.execute(outbox.insert().values(
            flow=intro.flow, enrollment_id=intro.enrollment_id, step=step, occurrence="1",
            lead_id=intro.lead_id, flow_version=intro.flow_version, action="send",
            template=template, payload={"sender_owner": True},
            message_id=f"<e2e-{step}@mail.example.co.jp>", status="pending", attempts=0,
            next_attempt_at=due, created_at=due, updated_at=due).returning(outbox.c.id))
            .scalar_one())


# ---------------------------------------------------------------- the test


@pytest.mark.slow
def test_dormant_customer_clicks_reads_is_handed_off_then_unsubscribes(world: World) -> None:
    # T0: the tick sends the intro to the dormant customer, and only to them.
    world.engine("run", "flows", "--once", "--at", world.t0.isoformat())
    assert [r.recipients for r in world.mail.received] == [(LEAD,)]
    [intro] = sends_of(world, LEAD)
    assert (intro.flow, intro.step, intro.template) == ("revive_dormant", "intro",
                                                        "dormant/intro.html")
    assert intro.status == "sent" and intro.relay_id == "E2E0001"
    for email, reason in (("kato@no-consent.example.co.jp", "consent"),
                          ("suzuki@no-basis.example.co.jp", "legal basis"),
                          ("ito@unsubscribed.example.co.jp", "suppress")):
        [blocked] = sends_of(world, email)
        assert blocked.status == "suppressed" and reason in blocked.reason.lower(), blocked
    assert select(world.store, enrollments,
                  enrollments.c.lead_id == world.ids["yamada@active.example.co.jp"]) == []
    [message] = world.mail.messages_to(LEAD)
    html = check_intro(world, message, intro)
    before = world.explain(world.t0)
    assert score(before) == pytest.approx(CLOUD_POINTS)
    assert section(before, "goal when")["value"] is False

    # A mail gateway's link checker (HEAD) and a tampered link: recorded as a machine's click,
    # and refused, respectively; neither may count as interest.
    world.clock.at = world.t0 + dt.timedelta(minutes=20)
    [first_link] = [h for h in re.findall(r'href="([^"]+)"', html) if "/c/" in h]
    checked = httpx.head(first_link, headers={"user-agent": "Mozilla/5.0 Proofpoint"})
    assert checked.status_code == 302
    token_end = first_link[-3]
    forged = first_link[:-3] + ("A" if token_end != "A" else "B") + first_link[-2:]
    tampered = httpx.get(forged, follow_redirects=False)
    assert tampered.status_code == 404 and "location" not in tampered.headers
    [scanned] = lead_events(world, "email_click")
    assert scanned.machine is True and scanned.properties["why"] == "head"

    # Between T0 and T1: the person opens the mail, clicks, reads four pages.
    with chromium(capabilities=TRUST_THE_TEST_SITE) as browser:
        read_the_mail_and_visit(world, browser, html)
    clicks = lead_events(world, "email_click")
    assert [(c.machine, c.link) for c in clicks] == [
        (True, intro.payload["links"][0]), (None, intro.payload["links"][0])]
    views = lead_events(world, "page_view")
    assert [v.url for v in views] == [path for path, _ in TOUR]
    assert all(world.t0 < v.occurred_at < world.t1 for v in views)
    assert [v.properties["title"] for v in views] == [title for _, title in TOUR]

    # T1: the goal is reached; the lead goes to inside sales and the owner hears of it.
    world.engine("run", "flows", "--once", "--at", world.t1.isoformat())
    [handoff] = select(world.store, outbox, outbox.c.lead_id == world.ids[LEAD],
                       outbox.c.action == "handoff")
    assert handoff.status == "sent" and handoff.reason == "assigned to inside_sales"
    assert handoff.payload["team"] == "inside_sales" and handoff.payload["rank"] == 3
    [alert] = world.mail.messages_to(OWNER)
    assert str(alert["Subject"]) == f"【掘り起こし】休眠顧客 {COMPANY} 様が再び動き出しました"
    assert alert["Auto-Submitted"] == "auto-generated" and alert["List-Unsubscribe"] is None
    body = str(alert.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert LEAD in body and f"engine explain {LEAD}" in body
    [enrollment] = select(world.store, enrollments, enrollments.c.lead_id == world.ids[LEAD])
    assert enrollment.state == "goal" and enrollment.ended_at is not None
    tags = {t.tag for t in select(world.store, lead_tags, lead_tags.c.lead_id == world.ids[LEAD])}
    assert tags == {"revived"}
    assert "goal" in {j.event for j in select(world.store, journal,
                                              journal.c.lead_id == world.ids[LEAD])}

    after = world.explain(world.t1)
    assert score(after) >= 40 > score(before)
    assert section(after, "goal when")["value"] is True
    counted = [line for line in after["scores"]["interest"]["lines"] if line["event"]]
    assert len(counted) == 4  # the click and three pages: not the checker's HEAD, not the landing
    assert sum(line["points"] for line in counted) == VISIT_POINTS
    assert all(0.95 < line["decay"] < 1 for line in counted)
    assert score(after) == pytest.approx(CLOUD_POINTS + sum(line["value"] for line in counted))
    history = {(h["step"], h["event"]) for h in after["history"]}
    assert {("intro", "send sent"), ("goal+3", "handoff sent"),
            ("goal+4", "notify sent")} <= history, history

    # Queued before the reader unsubscribes: the unsubscribe itself stops it.
    queued = queue_send(world, intro, "checkin", "dormant/checkin.html",
                        world.t1 + dt.timedelta(hours=1))
    world.clock.at = world.t1 + dt.timedelta(hours=3)
    with chromium(capabilities=TRUST_THE_TEST_SITE) as browser:
        assert browser.cookies() == {}  # another device: nothing of the first session
        unsubscribe_in_browser(world, browser, unsubscribe_url(message, world.tracker))
    [suppression] = select(world.store, suppressions,
                           suppressions.c.email_hash == email_hash(LEAD))
    assert (suppression.reason, suppression.source) == ("unsubscribe", "tracking")
    assert len(lead_events(world, "unsubscribe")) == 1
    [stopped] = select(world.store, outbox, outbox.c.id == queued)
    assert (stopped.status, stopped.reason) == ("suppressed", "unsubscribed")

    # Queued after it: delivery refuses it; the lead gets no further mail.
    late = queue_send(world, intro, "resend", "dormant/intro_resend.html",
                      world.t1 + dt.timedelta(hours=4))
    world.engine("run", "flows", "--once", "--at", (world.t1 + dt.timedelta(hours=5)).isoformat())
    [refused] = select(world.store, outbox, outbox.c.id == late)
    assert refused.status == "suppressed" and refused.sent_at is None, refused
    assert "suppress" in refused.reason and refused.attempts <= 1, refused
    assert len(world.mail.messages_to(LEAD)) == 1
    assert len(world.mail.received) == 2  # the intro and the owner's alert, nothing else

"""The page tag in a real headless Chromium: a customer site on loopback with three pages that
load `/t.js` from the tracking server (another origin), a visitor browsing anonymously, then
arriving through a tracked click with `?_nv=`. Page views must land on the lead, the earlier
anonymous ones merged in, with time on page; the token must leave the address bar."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.mail.tokens import verify
from engine.store.schema import anonymous_views, identities
from engine.track import create_app
from engine.track.settings import TrackSettings
from tests.browser import chromium, wait_for
from tests.engine.track.conftest import NO_RATE_LIMITS, SECRET, UTM, event_rows, rows, send_message
from tests.engine.track.live import LiveServer, Site
from tests.pg import free_port

PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{title}</title>
<script async src="{tracker}/t.js"></script></head>
<body><h1>{title}</h1><a id="next" href="/pricing">料金</a></body></html>"""
PATHS = {"/": "トップ", "/pricing": "料金プラン", "/case-studies/trading-co": "導入事例"}


@pytest.fixture
def servers(lite: sa.Engine) -> Iterator[tuple[LiveServer, Site]]:
    site_port, tracker_port = free_port(), free_port()
    tracker = f"http://127.0.0.1:{tracker_port}"
    pages = {path: PAGE.format(title=title, tracker=tracker) for path, title in PATHS.items()}
    site = Site(pages, port=site_port)
    app = create_app(lite, Settings(site_origins=(site.origin,)),
                     TrackSettings(site_origins=(site.origin,), utm=UTM, limits=NO_RATE_LIMITS),
                     secret=SECRET)
    with LiveServer(app, port=tracker_port) as server, site:
        yield server, site


def held(engine: sa.Engine) -> list[dict[str, object]]:
    return [dict(r) for r in rows(engine, anonymous_views)]


def views(engine: sa.Engine, lead: int) -> list[dict[str, object]]:
    return [dict(v) for v in event_rows(engine, "page_view") if v["lead_id"] == lead]


@pytest.mark.slow
def test_the_tag_records_page_views_and_merges_anonymous_ones_after_a_click(
        lite: sa.Engine, servers: tuple[LiveServer, Site]) -> None:
    tracker, site = servers
    sent = send_message(lite, [f"{site.origin}/case-studies/trading-co"],
                        sent_at=datetime.now(UTC) - timedelta(hours=1))  # the server's clock
    with chromium() as browser:
        # Anonymous: two pages, held; leaving the first reports its time on the page.
        browser.get(site.origin + "/")
        wait_for(lambda: len(held(lite)) == 1)
        browser.click("a#next")
        wait_for(lambda: len(held(lite)) == 2)
        wait_for(lambda: "seconds" in held(lite)[0]["properties"])  # type: ignore[operator]
        visitor = browser.cookies()["_nvid"]
        assert len(visitor) == 22 and {h["visitor_id"] for h in held(lite)} == {visitor}
        assert event_rows(lite, "page_view") == []

        # The tracked click: redirected to the site with ?_nv=..., which the tag keeps.
        browser.get(tracker.url + sent.click(0))
        landed = urlsplit(browser.current_url)
        assert landed.path == "/case-studies/trading-co"
        assert "_nv" not in parse_qs(landed.query)  # removed from the address bar
        assert parse_qs(landed.query)["utm_source"] == ["nurture"]
        assert any("_nv=" in r for r in site.requests)  # but it did arrive
        token = browser.cookies()["_nv"]
        assert (found := verify(SECRET, token, "visit")) and found.lead_id == sent.lead_id
        wait_for(lambda: len(views(lite, sent.lead_id)) == 3)
        assert held(lite) == []
        [identity] = rows(lite, identities)
        assert (identity["visitor_id"], identity["lead_id"]) == (visitor, sent.lead_id)

        # Later visits without the token in the URL still belong to the lead.
        browser.get(site.origin + "/pricing")
        wait_for(lambda: len(views(lite, sent.lead_id)) == 4)
        assert browser.title == "料金プラン"

        # T-H5: hostile data from the store shown on a page runs nothing in a real browser.
        hostile = send_message(lite, [site.origin + "/"], email=(
            "x@\"><img src=x onerror=\"document.title='pwned'\"><script>"
            "document.title='pwned'</script>.example"))
        browser.get(tracker.url + hostile.unsubscribe())
        assert browser.title == "配信停止の確認"
        assert browser.execute("return document.images.length + document.scripts.length") == 0

    recorded = views(lite, sent.lead_id)
    assert sorted(str(v["url"]) for v in recorded) == [
        "/", "/case-studies/trading-co", "/pricing", "/pricing"]
    first = min(recorded, key=lambda v: v["occurred_at"])  # type: ignore[arg-type, return-value]
    assert first["url"] == "/" and isinstance(first["properties"]["seconds"], int)  # type: ignore[index]
    titles = {str(v["properties"]["title"]) for v in recorded}  # type: ignore[index]
    assert titles == set(PATHS.values())
    [click] = event_rows(lite, "email_click")
    assert click["lead_id"] == sent.lead_id and click["machine"] is None

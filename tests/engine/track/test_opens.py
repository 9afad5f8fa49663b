"""`GET /o/{token}.gif`: the open is recorded; the answer is always the uncacheable GIF (T-H4)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from engine.mail.tokens import sign
from engine.track.pages import PIXEL
from engine.track.settings import Limits
from tests.engine.track.conftest import (
    SECRET,
    Clock,
    TestClient,
    event_rows,
    make_client,
    send_message,
    snapshot,
)

MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko)"


def assert_pixel(response: httpx.Response) -> None:
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "image/gif" and response.content == PIXEL
    assert "no-store" in headers["cache-control"] and "no-cache" in headers["cache-control"]
    assert PIXEL.startswith(b"GIF89a")


def test_an_open_is_recorded(client: TestClient, store: sa.Engine, clock: Clock) -> None:
    sent = send_message(store)
    assert_pixel(client.get(sent.open(), headers={"user-agent": MAIL}))
    [opened] = event_rows(store, "email_open")
    assert (opened["lead_id"], opened["flow"], opened["step"], opened["template"],
            opened["occurred_at"], opened["machine"]) == (
        sent.lead_id, "revive_dormant", "intro", "dormant/intro.html", clock.at, None)


def test_privacy_proxies_are_recorded_as_machines(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    for agent in ("Mozilla/5.0", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                  "(via ggpht.com GoogleImageProxy)", "YahooMailProxy; https://help.yahoo.com"):
        assert_pixel(client.get(sent.open(), headers={"user-agent": agent}))
    whys = [(e["machine"], e["properties"]["why"]) for e in event_rows(store, "email_open")]
    assert whys == [(True, "privacy_proxy"), (True, "scanner"), (True, "scanner")]


def test_t_h4_malformed_tokens_still_get_the_pixel_and_record_nothing(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    good = sign(SECRET, "open", outbox_id=sent.outbox_id)
    before = snapshot(store)
    for token in [good[:-3], good[: len(good) // 2], "A" * 150 + "." + "B" * 22, "x" * 8000,
                  "%00", "..%2F..%2Fetc", "not-a-token", good.replace(".", ""),
                  sign(SECRET, "click", outbox_id=sent.outbox_id),
                  sign(b"other-key", "open", outbox_id=sent.outbox_id),
                  sign(SECRET, "open", outbox_id=sent.outbox_id + 999), "%E3%81%82.%F0%9F%98%80"]:
        assert_pixel(client.get(f"/o/{token}.gif"))
    assert snapshot(store) == before


def test_a_database_failure_still_answers_the_pixel(lite_client: TestClient,
                                                    lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    with store.begin() as conn:
        conn.execute(sa.text("ALTER TABLE events RENAME TO events_gone"))
    assert_pixel(client.get(sent.open()))


def test_over_the_rate_limit_the_pixel_is_answered_and_nothing_recorded(
        lite: sa.Engine, clock: Clock) -> None:
    store = lite
    sent = send_message(store)
    with make_client(store, clock, Limits(rate_mail=(0.001, 3))) as client:
        for _ in range(6):
            assert_pixel(client.get(sent.open(), headers={"user-agent": MAIL}))
    assert len(event_rows(store, "email_open")) == 3

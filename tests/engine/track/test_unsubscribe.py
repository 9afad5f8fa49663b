"""`/u/{token}`: GET never changes anything (I8, T-H9); the RFC 8058 POST suppresses, stops
queued sends and commits before answering, without redirect, idempotently (T-H8, T-C3, T-C5,
T-C7); a database failure answers 503."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from engine.mail.tokens import sign
from engine.store.emails import email_hash
from engine.store.schema import audit, outbox, suppressions
from tests.engine.track.conftest import (
    SECRET,
    Clock,
    TestClient,
    event_rows,
    queue_message,
    rows,
    send_message,
    snapshot,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
SCANNERS = ["Mozilla/5.0 (compatible; Barracuda Sentinel)", "Mozilla/5.0",
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)", "curl/8.5", ""]


def test_t_h9_get_and_head_show_a_page_and_change_nothing(lite_client: TestClient,
                                                          lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store, language="ja")
    queue_message(store, sent.lead_id)
    before = snapshot(store)
    for agent in SCANNERS:
        response = client.get(sent.unsubscribe(), headers={"user-agent": agent})
        assert response.status_code == 200 and "location" not in response.headers
        assert '<form method="post">' in response.text and "One-Click" in response.text
        assert response.text.count('<section lang="ja">') == 1 and 'lang="en"' not in response.text
        assert sent.email not in response.text and sent.email[0] + "***@" in response.text
    assert client.head(sent.unsubscribe()).status_code == 200
    assert snapshot(store) == before


def test_the_page_speaks_the_leads_language(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    english = send_message(store, language="en", country="US")
    page = client.get(english.unsubscribe()).text
    assert "Unsubscribe" in page and "配信" not in page
    unknown = send_message(store)
    page = client.get(unknown.unsubscribe()).text
    assert "配信を停止する" in page and "Unsubscribe" in page


def test_what_the_store_holds_is_escaped_on_the_page(lite_client: TestClient,
                                                      lite: sa.Engine) -> None:
    sent = send_message(lite, email='a@"><img src=x onerror=alert(1)><script>alert(2)</script>')
    page = lite_client.get(sent.unsubscribe()).text
    assert "<img" not in page and "<script>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in page


def test_an_invalid_token_gets_a_page_to_opt_out_by_hand(lite_client: TestClient,
                                                         lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    response = client.get(sent.unsubscribe()[:-4])
    assert response.status_code == 200 and "<form" not in response.text
    assert "marketing@example.co.jp" in response.text  # the sender, to write to


@pytest.fixture
def unsubscribed(client: TestClient, store: sa.Engine) -> Iterator[dict[str, int]]:
    """A lead with a sent message and queued mail of every kind, before the POST."""
    sent = send_message(store, email="Taro.Yamada@Example.co.jp")
    ids = {status: queue_message(store, sent.lead_id, status)
           for status in ("pending", "deferred", "claimed", "sending", "failed")}
    ids["notify"] = queue_message(store, sent.lead_id, "pending", action="notify")
    ids["other_lead"] = queue_message(store, send_message(store).lead_id, "pending")
    ids["lead"], ids["outbox"] = sent.lead_id, sent.outbox_id
    yield ids


def check_unsubscribed(store: sa.Engine, ids: dict[str, int], clock: Clock) -> None:
    [row] = rows(store, suppressions)
    assert (row["email_hash"], row["reason"], row["scope"], row["source"], row["created_at"]) == (
        email_hash("taro.yamada@example.co.jp"), "unsubscribe", "global", "tracking", clock.at)
    status = {r["id"]: (r["status"], r["reason"]) for r in rows(store, outbox)}
    assert status[ids["pending"]] == status[ids["deferred"]] == ("suppressed", "unsubscribed")
    for untouched in ("claimed", "sending", "failed"):  # the worker re-checks before DATA (I7)
        assert status[ids[untouched]] == (untouched, None)
    assert status[ids["notify"]] == ("pending", None)
    assert status[ids["other_lead"]] == ("pending", None)
    assert status[ids["outbox"]] == ("sent", None)
    [event] = event_rows(store, "unsubscribe")
    assert (event["lead_id"], event["flow"], event["step"]) == (ids["lead"], "revive_dormant",
                                                                "intro")
    [entry] = rows(store, audit)
    assert entry["action"] == "suppression.add" and entry["details"]["stopped_sends"] == 2


def post_ok(client: TestClient, path: str, **kwargs: object) -> None:
    response = client.post(path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert "location" not in response.headers and "配信を停止しました" in response.text


def test_t_h8_the_one_click_post_urlencoded(client: TestClient, store: sa.Engine, clock: Clock,
                                            unsubscribed: dict[str, int]) -> None:
    path = f"/u/{sign(SECRET, 'unsubscribe', outbox_id=unsubscribed['outbox'])}"
    post_ok(client, path, content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"})
    check_unsubscribed(store, unsubscribed, clock)


def test_t_h8_the_one_click_post_multipart_with_cookies_repeated(
        client: TestClient, store: sa.Engine, clock: Clock, unsubscribed: dict[str, int]) -> None:
    path = f"/u/{sign(SECRET, 'unsubscribe', outbox_id=unsubscribed['outbox'])}"
    post_ok(client, path, files={"List-Unsubscribe": (None, "One-Click")})
    client.cookies.set("session", "whatever")
    post_ok(client, path, data=ONE_CLICK)
    clock.advance(days=1)
    post_ok(client, path, files={"List-Unsubscribe": (None, "One-Click")})
    check_unsubscribed(store, unsubscribed, Clock())  # the first POST's time


def test_a_send_queued_after_the_unsubscribe_is_stopped_by_the_next_post(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    post_ok(client, sent.unsubscribe(), data=ONE_CLICK)
    late = queue_message(store, sent.lead_id, "pending")
    post_ok(client, sent.unsubscribe(), data=ONE_CLICK)
    assert {r["id"]: r["status"] for r in rows(store, outbox)}[late] == "suppressed"
    assert len(rows(store, suppressions)) == 1 and len(event_rows(store, "unsubscribe")) == 1


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"", "application/x-www-form-urlencoded", 400),
    (b"List-Unsubscribe=Yes", "application/x-www-form-urlencoded", 400),
    (b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click",
     "application/x-www-form-urlencoded", 400),
    (b"unsubscribe=1", "application/x-www-form-urlencoded", 400),
    (b'{"List-Unsubscribe": "One-Click"}', "application/json", 415),
    (b"List-Unsubscribe=One-Click", "text/plain", 415),
    (b"List-Unsubscribe=One-Click", None, 415),
    (b"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"; filename=\"a\"\r\n\r\n"
     b"One-Click\r\n--b--\r\n", "multipart/form-data; boundary=b", 400),
    (b"List-Unsubscribe=One-Click" + b"&x=" + b"y" * 1200, "application/x-www-form-urlencoded",
     413),
    (b"\xff\xfe=\xff", "application/x-www-form-urlencoded", 400),
])
def test_t_h8_a_post_without_the_one_click_body_changes_nothing(
        lite_client: TestClient, lite: sa.Engine, body: bytes, content_type: str | None,
        status: int) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    queue_message(store, sent.lead_id)
    before = snapshot(store)
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(sent.unsubscribe(), content=body, headers=headers)
    assert response.status_code == status and "location" not in response.headers
    assert snapshot(store) == before


def test_a_body_over_the_cap_without_content_length_is_413(lite_client: TestClient,
                                                           lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)

    def chunks() -> Iterator[bytes]:
        yield b"List-Unsubscribe=One-Click&pad="
        for _ in range(100):
            yield b"x" * 100

    response = client.post(sent.unsubscribe(), content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert rows(store, suppressions) == []


def test_t_c5_invalid_tokens_get_the_same_answer_and_change_nothing(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    queue_message(store, sent.lead_id)
    before = snapshot(store)
    for token in [sent.unsubscribe()[3:-2], sign(b"foreign", "unsubscribe", outbox_id=1),
                  sign(SECRET, "click", outbox_id=sent.outbox_id),
                  sign(SECRET, "unsubscribe", outbox_id=sent.outbox_id + 50), "x" * 300]:
        post_ok(client, f"/u/{token}", data=ONE_CLICK)
    assert snapshot(store) == before


def test_a_database_failure_answers_503_so_the_client_retries(client: TestClient,
                                                              store: sa.Engine) -> None:
    sent = send_message(store)
    pending = queue_message(store, sent.lead_id)
    with store.begin() as conn:
        conn.execute(sa.text("ALTER TABLE suppressions RENAME TO suppressions_gone"))
    response = client.post(sent.unsubscribe(), data=ONE_CLICK)
    assert response.status_code == 503 and "location" not in response.headers
    assert response.headers["retry-after"]
    assert {r["id"]: r["status"] for r in rows(store, outbox)}[pending] == "pending"

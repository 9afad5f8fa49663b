"""`GET /c/{token}/{i}`: the click is recorded before the redirect, the target is always a link of
the sent message (T-H1, T-H2, T-H3), and automated clicks are flagged (T-H10)."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.mail.tokens import sign, verify
from engine.store.schema import events
from tests.engine.track.conftest import (
    LINKS,
    SECRET,
    SITE,
    Clock,
    Sent,
    TestClient,
    event_rows,
    make_client,
    send_message,
    snapshot,
)

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def get(client: TestClient, path: str, agent: str = BROWSER, **kwargs: object):  # type: ignore[no-untyped-def]
    return client.get(path, headers={"user-agent": agent}, **kwargs)  # type: ignore[arg-type]


def test_a_click_is_recorded_then_redirected_with_visitor_token_and_utm(
        client: TestClient, store: sa.Engine, clock: Clock) -> None:
    sent = send_message(store)
    response = get(client, sent.click(0))
    assert response.status_code == 302
    location = response.headers["location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == LINKS[0]
    query = parse_qs(parts.query)
    assert query["utm_source"] == ["nurture"] and query["utm_medium"] == ["email"]
    assert query["utm_campaign"] == ["revive_dormant"] and query["utm_content"] == ["intro"]
    visitor = verify(SECRET, query["_nv"][0], "visit")
    assert visitor is not None and visitor.lead_id == sent.lead_id
    # Committed before the answer: a new connection sees it.
    [click] = event_rows(store, "email_click")
    assert (click["lead_id"], click["link"], click["flow"], click["step"], click["template"],
            click["source"], click["occurred_at"]) == (
        sent.lead_id, LINKS[0], "revive_dormant", "intro", "dormant/intro.html", "tracking",
        clock.at)
    assert click["machine"] is None
    assert click["properties"] == {"outbox_id": sent.outbox_id}


def test_query_and_fragment_of_the_link_are_kept(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    location = get(client, sent.click(1)).headers["location"]
    assert location.startswith(f"{SITE}/case-studies/trading-co?ref=mail&utm_source=nurture&")
    assert location.endswith("#top") and "&_nv=" in location


def test_links_off_the_site_get_neither_visitor_token_nor_utm(lite_client: TestClient,
                                                              lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    assert get(client, sent.click(2)).headers["location"] == LINKS[2]
    assert event_rows(store, "email_click")[0]["link"] == LINKS[2]


def test_existing_utm_stays_and_a_planted_visitor_token_is_replaced(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    link = f"{SITE}/x?utm_source=partner&_nv=forged.token&a=%E3%81%82"
    sent = send_message(store, [link])
    query = parse_qs(urlsplit(get(client, sent.click(0)).headers["location"]).query)
    assert query["utm_source"] == ["partner"] and query["a"] == ["あ"]
    assert len(query["_nv"]) == 1 and verify(SECRET, query["_nv"][0], "visit") is not None


def test_non_ascii_links_are_sent_as_ascii(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store, ["https://例え.jp/料金?q=見積"])
    location = get(client, sent.click(0)).headers["location"]
    assert location == ("https://xn--r8jz45g.jp/%E6%96%99%E9%87%91?q=%E8%A6%8B%E7%A9%8D")


@pytest.mark.parametrize("query", ["?url=https://evil.example/", "?next=//evil.example",
                                   "?redirect=javascript:alert(1)&_nv=x"])
def test_t_h1_the_target_is_the_stored_link_whatever_the_query(
        lite_client: TestClient, lite: sa.Engine, query: str) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    location = get(client, sent.click(0) + query).headers["location"]
    assert location.startswith(LINKS[0] + "?utm_source=") and "evil" not in location


UNSAFE_LINKS = [
    "javascript:alert(1)", "//evil.example/x", "data:text/html,<script>x</script>",
    "https://user@evil.example/", "https://exa mple.com/", "https://x.example\\@evil/",
    "ftp://files.example.com/a", "", None, 42, "https://", "https://a.example:99999/",
    "https://a.example/\u2028x", "https://a.example/" + "x" * 5000,
]


def test_a_stored_link_that_is_not_safe_is_never_redirected_to(lite_client: TestClient,
                                                                lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store, UNSAFE_LINKS)  # type: ignore[arg-type]
    before = snapshot(store)
    for i, link in enumerate(UNSAFE_LINKS):
        response = get(client, sent.click(i))
        assert response.status_code == 404 and "location" not in response.headers, link
    assert snapshot(store) == before


@pytest.mark.parametrize("index", ["3", "9999", "-1", "1a", "01x", "99999999999999999999", "%20"])
def test_an_index_out_of_range_or_malformed_is_404(lite_client: TestClient, lite: sa.Engine,
                                                   index: str) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    token = sign(SECRET, "click", outbox_id=sent.outbox_id)
    response = get(client, f"/c/{token}/{index}")
    assert response.status_code == 404 and "location" not in response.headers
    assert event_rows(store) == []


def test_t_h2_wrong_purpose_old_key_and_missing_message_are_404(lite_client: TestClient,
                                                                 lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    before = snapshot(store)
    bad = [
        sign(SECRET, "open", outbox_id=sent.outbox_id),
        sign(SECRET, "unsubscribe", outbox_id=sent.outbox_id),
        sign(SECRET, "visit", lead_id=sent.lead_id),
        sign(b"an-old-or-foreign-key", "click", outbox_id=sent.outbox_id),
        sign(SECRET, "click", outbox_id=sent.outbox_id + 1000),
        sign(SECRET, "click", outbox_id=0),
    ]
    for token in bad:
        response = get(client, f"/c/{token}/0")
        assert response.status_code == 404 and "location" not in response.headers, token
    assert snapshot(store) == before


@pytest.fixture
def sqlite_client(tmp_path):  # type: ignore[no-untyped-def]
    from engine.store import db

    engine = db.connect(f"sqlite:///{tmp_path}/s.db")
    with make_client(engine, Clock()) as client:
        yield engine, client, send_message(engine)
    engine.dispose()


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(["flip", "cut", "insert"]), at=st.integers(0, 10_000),
       ch=st.sampled_from(ALPHABET))
def test_t_h2_any_change_to_a_valid_token_is_404(
        sqlite_client: tuple[sa.Engine, TestClient, Sent], how: str, at: int, ch: str) -> None:
    engine, client, sent = sqlite_client
    token = sign(SECRET, "click", outbox_id=sent.outbox_id)
    i = at % len(token)
    if how == "flip":
        mutated = token[:i] + (ch if ch != token[i] else "~") + token[i + 1:]
    elif how == "cut":
        mutated = token[:i]
    else:
        mutated = token[:i] + ch + token[i:]
    if verify(SECRET, mutated, "click") is not None:
        return  # base64 padding bits: the same bytes (the HMAC still covers them)
    response = get(client, f"/c/{mutated}/0")
    assert response.status_code in (404, 405) and "location" not in response.headers
    assert event_rows(engine) == []


def test_t_h3_random_tokens_never_hit(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    import secrets

    send_message(store)
    for _ in range(300):
        body = secrets.token_urlsafe(secrets.randbelow(40) + 8)
        tag = secrets.token_urlsafe(16)[:22]
        assert get(client, f"/c/{body}.{tag}/0").status_code == 404
    assert event_rows(store) == []


def test_t_h3_forged_tokens_cost_the_same_for_existing_and_missing_messages(
        lite_client: TestClient, lite: sa.Engine) -> None:
    """A forged token is refused before the store is read: whether its message exists cannot
    show in the response time (CVE-2024-47057 class)."""
    client, store = lite_client, lite
    sent = send_message(store)

    def forged(outbox_id: int) -> str:
        body = sign(SECRET, "click", outbox_id=outbox_id).split(".")[0]
        return f"/c/{body}.{'A' * 22}/0"

    existing, missing = forged(sent.outbox_id), forged(sent.outbox_id + 10_000)
    times: dict[str, list[float]] = {existing: [], missing: []}
    for _ in range(150):
        for path in (existing, missing):
            start = time.perf_counter()
            assert get(client, path).status_code == 404
            times[path].append(time.perf_counter() - start)
    ratio = statistics.median(times[existing]) / statistics.median(times[missing])
    assert 0.5 < ratio < 2.0, ratio


def test_a_head_request_is_recorded_as_a_machine_and_still_redirected(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    response = client.head(sent.click(0), headers={"user-agent": BROWSER})
    assert response.status_code == 302
    [click] = event_rows(store, "email_click")
    assert click["machine"] is True and click["properties"]["why"] == "head"


@pytest.mark.parametrize(("agent", "why"), [
    ("", "no_user_agent"),
    ("Mozilla/5.0", "privacy_proxy"),
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "scanner"),
    ("python-requests/2.32", "scanner"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36",
     "scanner"),
    ("Barracuda Sentinel (EE)", "scanner"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "scanner"),
])
def test_scanner_agents_are_flagged(lite_client: TestClient, lite: sa.Engine, agent: str,
                                    why: str) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    assert get(client, sent.click(0), agent=agent).status_code == 302
    [click] = event_rows(store, "email_click")
    assert click["machine"] is True and click["properties"]["why"] == why


def test_t_h10_a_scanner_burst_seconds_after_delivery_is_flagged(
        lite_client: TestClient, lite: sa.Engine, clock: Clock) -> None:
    client, store = lite_client, lite
    sent = send_message(store, sent_at=clock.at - timedelta(seconds=2))
    for _ in range(10):
        for i in range(len(LINKS)):
            assert get(client, sent.click(i)).status_code == 302
    clicks = event_rows(store, "email_click")
    assert len(clicks) == 30
    assert all(c["machine"] is True and c["properties"]["why"] == "too_soon" for c in clicks)


def test_two_links_within_seconds_are_a_burst_even_long_after_delivery(
        client: TestClient, store: sa.Engine, clock: Clock) -> None:
    sent = send_message(store)
    get(client, sent.click(0))
    clock.advance(seconds=1)
    get(client, sent.click(1))
    clicks = event_rows(store, "email_click")
    assert [(c["machine"], c["properties"].get("why")) for c in clicks] == [
        (True, "burst"), (True, "burst")]


def test_a_person_clicking_two_links_or_double_clicking_is_not_flagged(
        lite_client: TestClient, lite: sa.Engine, clock: Clock) -> None:
    client, store = lite_client, lite
    sent = send_message(store)
    get(client, sent.click(0))
    clock.advance(seconds=0.5)
    get(client, sent.click(0))  # a double click on the same link
    clock.advance(seconds=60)
    get(client, sent.click(1))
    assert [c["machine"] for c in event_rows(store, "email_click")] == [None, None, None]


def test_flagged_events_are_excluded_by_a_plain_column_test(
        client: TestClient, store: sa.Engine, clock: Clock) -> None:
    """What scores filter on (docs/tracking.md): ``machine IS NOT TRUE``, on both dialects."""
    sent = send_message(store)
    get(client, sent.click(0))
    client.head(sent.click(0))
    get(client, sent.click(0), agent="curl/8.5")
    with store.connect() as conn:
        people = conn.execute(sa.select(sa.func.count()).select_from(events).where(
            events.c.type == "email_click", events.c.machine.is_not(True))).scalar_one()
        machines = conn.execute(sa.select(sa.func.count()).select_from(events).where(
            events.c.machine.is_(True))).scalar_one()
    assert (people, machines) == (1, 2)


def test_a_database_failure_answers_503_without_redirect(lite_client: TestClient,
                                                         lite: sa.Engine) -> None:
    client, store = lite_client, lite
    sent: Sent = send_message(store)
    with store.begin() as conn:
        conn.execute(sa.text("ALTER TABLE events RENAME TO events_gone"))
    response = get(client, sent.click(0))
    assert response.status_code == 503 and "location" not in response.headers
    assert response.headers["retry-after"]

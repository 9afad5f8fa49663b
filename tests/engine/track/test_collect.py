"""`GET /t.js` and `POST /collect`: page views of the customer's site, held while the visitor is
anonymous and merged into the lead once identified; origins, schema and size enforced (T-H5)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from engine.mail.tokens import sign
from engine.store.schema import anonymous_views, identities, leads
from engine.track import visits
from engine.track.settings import Limits
from tests.engine.track.conftest import (
    SECRET,
    SITE,
    Clock,
    TestClient,
    add_lead,
    event_rows,
    rows,
    snapshot,
)

ORIGIN = {"origin": SITE, "content-type": "text/plain;charset=UTF-8"}


def new_id() -> str:
    return secrets.token_urlsafe(16)


def beacon(visitor: str, view: str | None = None, kind: str = "view", path: str = "/pricing",
           **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "visitor": visitor, "view": view or new_id(), "url": SITE + path,
            **extra}


def post(client: TestClient, body: object, headers: dict[str, str] | None = None,
         status: int = 204) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/collect", content=raw, headers=headers or ORIGIN)
    assert response.status_code == status, response.text
    return response


def visit_token(lead_id: int) -> str:
    return sign(SECRET, "visit", lead_id=lead_id)


def test_the_tag_is_served_as_cacheable_javascript(lite_client: TestClient) -> None:
    client = lite_client
    response = client.get("/t.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=3600" in response.headers["cache-control"]
    assert "sendBeacon" in response.text and "/collect" in response.text
    assert "_nv" in response.text and "pagehide" in response.text


def test_anonymous_views_are_held_then_merged_when_the_visitor_is_identified(
        client: TestClient, store: sa.Engine, clock: Clock) -> None:
    visitor, lead = new_id(), add_lead(store)
    first = beacon(visitor, path="/pricing?plan=pro", title="料金", referrer=
                   "https://www.google.com/search?q=expense+software")
    response = post(client, first)
    assert response.headers["access-control-allow-origin"] == SITE
    first_at = clock.at
    clock.advance(minutes=5)
    post(client, beacon(visitor, path="/features"))
    held = rows(store, anonymous_views)
    assert [(h["url"], h["visitor_id"]) for h in held] == [("/pricing", visitor),
                                                           ("/features", visitor)]
    assert event_rows(store, "page_view") == []
    clock.advance(minutes=5)
    post(client, beacon(visitor, path="/case-studies/trading-co", token=visit_token(lead)))
    assert rows(store, anonymous_views) == []
    views = event_rows(store, "page_view")
    assert sorted((v["url"], v["lead_id"], v["source"]) for v in views) == [
        ("/case-studies/trading-co", lead, "tracking"), ("/features", lead, "tracking"),
        ("/pricing", lead, "tracking")]
    pricing = next(v for v in views if v["url"] == "/pricing")
    assert pricing["occurred_at"] == first_at  # the held view keeps its own time
    assert pricing["properties"] == {
        "page": f"{SITE}/pricing?plan=pro", "visitor": visitor, "title": "料金",
        "referrer": "https://www.google.com/search"}
    [identity] = rows(store, identities)
    assert (identity["visitor_id"], identity["lead_id"]) == (visitor, lead)
    # Later views without the token still belong to the lead (the identity is known).
    clock.advance(minutes=5)
    post(client, beacon(visitor, path="/pricing/faq"))
    assert {v["url"] for v in event_rows(store, "page_view")} >= {"/pricing/faq"}
    assert rows(store, anonymous_views) == []


def test_time_on_page_updates_the_view_and_keeps_the_longest(client: TestClient,
                                                             store: sa.Engine) -> None:
    lead = add_lead(store)
    known, anonymous = new_id(), new_id()
    for visitor, extra in ((known, {"token": visit_token(lead)}), (anonymous, {})):
        view = new_id()
        post(client, beacon(visitor, view, **extra))
        post(client, beacon(visitor, view, kind="time", seconds=42, **extra))
        post(client, beacon(visitor, view, kind="time", seconds=7, **extra))
        post(client, beacon(visitor, view, **extra))  # the view beacon again: stored once
    [view_row] = event_rows(store, "page_view")
    assert view_row["properties"]["seconds"] == 42
    [held] = rows(store, anonymous_views)
    assert held["properties"]["seconds"] == 42


def test_a_time_beacon_without_its_view_records_the_view(lite_client: TestClient,
                                                          lite: sa.Engine) -> None:
    client, store = lite_client, lite
    lead = add_lead(store)
    post(client, beacon(new_id(), kind="time", seconds=12, token=visit_token(lead)))
    [view] = event_rows(store, "page_view")
    assert view["properties"]["seconds"] == 12 and view["lead_id"] == lead


def test_a_newer_identification_moves_the_visitor(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    visitor, first, second = new_id(), add_lead(store), add_lead(store)
    post(client, beacon(visitor, token=visit_token(first)))
    post(client, beacon(visitor, token=visit_token(second)))
    post(client, beacon(visitor))
    [identity] = rows(store, identities)
    assert identity["lead_id"] == second
    assert [v["lead_id"] for v in event_rows(store, "page_view")] == [first, second, second]


def test_forged_tokens_and_tokens_of_erased_leads_leave_the_visitor_anonymous(
        lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    visitor, lead = new_id(), add_lead(store)
    post(client, beacon(visitor, token=sign(b"foreign", "visit", lead_id=lead)))
    post(client, beacon(visitor, token=sign(SECRET, "click", outbox_id=lead)))
    post(client, beacon(visitor, token="あ.い"))
    post(client, beacon(visitor, token=visit_token(lead + 1000)))
    with store.begin() as conn:
        conn.execute(leads.delete().where(leads.c.id == lead))
    post(client, beacon(visitor, token=visit_token(lead)))
    assert event_rows(store) == [] and rows(store, identities) == []
    assert len(rows(store, anonymous_views)) == 5


@pytest.mark.parametrize(("headers", "status"), [
    ({"content-type": "text/plain"}, 403),
    ({"origin": "https://evil.example", "content-type": "text/plain"}, 403),
    ({"origin": "null", "content-type": "text/plain"}, 403),
    ({"origin": SITE, "content-type": "application/x-www-form-urlencoded"}, 415),
    ({"origin": SITE, "content-type": "application/json"}, 204),
])
def test_only_the_site_origins_may_report(lite_client: TestClient, headers: dict[str, str],
                                          status: int) -> None:
    response = post(lite_client, beacon(new_id()), headers, status)
    if status == 403:
        assert "access-control-allow-origin" not in response.headers


def test_cors_preflight(lite_client: TestClient) -> None:
    client = lite_client
    ok = client.options("/collect", headers={"origin": SITE,
                                             "access-control-request-method": "POST"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == SITE
    assert ok.headers["access-control-allow-methods"] == "POST"
    bad = client.options("/collect", headers={"origin": "https://evil.example"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers


BAD_BEACONS: list[object] = [
    b"not json", b"[1, 2]", b"\xff\xfe", b"null",
    {**beacon("short"), "kind": "view"},
    {**beacon(new_id()), "kind": "click"},
    {**beacon(new_id()), "extra": 1},
    {**beacon(new_id()), "view": 12345},
    {**beacon(new_id()), "url": "https://evil.example/pricing"},
    {**beacon(new_id()), "url": "javascript:alert(1)"},
    {**beacon(new_id()), "url": None},
    {**beacon(new_id(), kind="time"), "seconds": True},
    {**beacon(new_id(), kind="time"), "seconds": -1},
    {**beacon(new_id(), kind="time"), "seconds": 86_401},
    {**beacon(new_id(), kind="time"), "seconds": 1.5},
    {**beacon(new_id()), "title": ["x"]},
    {**beacon(new_id()), "title": "x" * 1300},
    {**beacon(new_id()), "referrer": 5},
    {**beacon(new_id()), "token": 5},
]


def test_beacons_outside_the_schema_are_400_and_change_nothing(lite_client: TestClient,
                                                               lite: sa.Engine) -> None:
    client, store = lite_client, lite
    before = snapshot(store)
    for body in BAD_BEACONS:
        response = post(client, body, status=400)
        assert response.headers["access-control-allow-origin"] == SITE
    assert snapshot(store) == before


def test_an_oversized_beacon_is_413(lite_client: TestClient, lite: sa.Engine) -> None:
    client, store = lite_client, lite
    post(client, {**beacon(new_id()), "title": "x" * 5000}, status=413)
    assert snapshot(store)["anonymous_views"] == []


def test_t_h5_hostile_text_is_stored_as_data_never_echoed(lite_client: TestClient,
                                                          lite: sa.Engine) -> None:
    client, store = lite_client, lite
    payload = "\"><svg onload=alert(1)></script><script>alert(2)</script>"
    response = post(client, beacon(new_id(), path="/p?q=" + payload.replace(" ", "%20"),
                                   title=payload + "\u2028\r\nX-Injected: 1",
                                   referrer="https://a.example/" + payload.replace(" ", "")))
    assert response.content == b""
    [held] = rows(store, anonymous_views)
    assert held["properties"]["title"] == payload + " X-Injected: 1"  # one line, kept as data
    assert "onload" in held["properties"]["page"]


def test_held_views_are_capped_per_visitor_and_pruned_after_the_retention(
        lite: sa.Engine, clock: Clock) -> None:
    store = lite
    from tests.engine.track.conftest import make_client

    limits = Limits(rate_collect=(1e6, 10**6), held_views_per_visitor=3, held_view_days=30)
    visitor, other = new_id(), new_id()
    with make_client(store, clock, limits) as client:
        for _ in range(5):
            post(client, beacon(visitor))
        clock.advance(days=31)
        post(client, beacon(other))
    assert len(rows(store, anonymous_views, anonymous_views.c.visitor_id == visitor)) == 3
    with store.begin() as conn:
        removed = visits.prune_held(conn, clock.at, limits)
    assert removed == 3
    assert [r["visitor_id"] for r in rows(store, anonymous_views)] == [other]

"""`POST /f/{form}`: forms and downloads create or update leads through the import's merge rules,
take consent only from the checkbox, and record the event; hostile posts change nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.imports.config import load as load_flows
from engine.store.emails import email_hash
from engine.store.schema import anonymous_views, identities, leads, suppressions
from engine.track import create_app
from engine.track.settings import TrackSettings
from tests.engine.track.conftest import (
    NO_RATE_LIMITS,
    SECRET,
    SITE,
    Clock,
    TestClient,
    add_lead,
    event_rows,
    rows,
    snapshot,
)

FROM_SITE = {"origin": SITE}
FLOWS = """\
attributes:
    current_software: text
    overseas_travel: text one of ("none", "occasional", "frequent")

merge:
    title: prefer crm over web_form then newest
"""


def forms_client(store: sa.Engine, clock: Clock, tmp_path: Path) -> TestClient:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "shared.flow").write_text(FLOWS, encoding="utf-8")
    app = create_app(store, Settings(site_origins=(SITE,)),
                     TrackSettings(site_origins=(SITE,), limits=NO_RATE_LIMITS),
                     config=load_flows(str(tmp_path / "flows")), secret=SECRET, now=clock)
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def forms(store: sa.Engine, clock: Clock, tmp_path: Path) -> Iterator[TestClient]:
    with forms_client(store, clock, tmp_path) as client:
        yield client


@pytest.fixture
def lite_forms(lite: sa.Engine, clock: Clock, tmp_path: Path) -> Iterator[TestClient]:
    with forms_client(lite, clock, tmp_path) as client:
        yield client


def lead_by_email(store: sa.Engine, email: str) -> dict[str, object]:
    [row] = rows(store, leads, leads.c.email == email)
    return dict(row)


def test_a_form_creates_a_lead_with_consent_and_its_legal_basis(
        forms: TestClient, store: sa.Engine, clock: Clock) -> None:
    response = forms.post("/f/contact", headers=FROM_SITE, data={
        "email": " Ｈａｎａｋｏ@Example.CO.JP ", "last_name": "山田", "first_name": "花子",
        "company": "株式会社サンプル", "employees": "１，２００名", "title": "経理部長",
        "current_software": "勘定奉行", "overseas_travel": "Frequent", "consent": "on",
        "stage": "customer", "owner": "mallory", "legal_basis": "forged", "csrf": "x"})
    assert response.status_code == 200 and "送信しました" in response.text
    lead = lead_by_email(store, "hanako@example.co.jp")
    assert (lead["last_name"], lead["company"], lead["employees"], lead["title"]) == (
        "山田", "株式会社サンプル", 1200, "経理部長")
    assert lead["custom"] == {"current_software": "勘定奉行", "overseas_travel": "frequent"}
    assert lead["consent"] is True and lead["legal_basis"] == "web form opt-in: contact"
    assert lead["stage"] is None and lead["owner"] is None
    assert lead["provenance"]["title"]["source"] == "web_form"  # type: ignore[index]
    [event] = event_rows(store, "form_submit")
    assert (event["lead_id"], event["form"], event["occurred_at"], event["source"]) == (
        lead["id"], "contact", clock.at, "tracking")


def test_merge_rules_decide_and_an_unticked_box_takes_no_consent(
        forms: TestClient, store: sa.Engine) -> None:
    stamp = {"source": "crm", "at": "2026-11-01T00:00:00+00:00"}
    lead = add_lead(store, "jiro@example.co.jp", title="代表取締役", consent=None,
                    provenance={"title": stamp})
    forms.post("/f/webinar", headers=FROM_SITE, data={
        "email": "jiro@example.co.jp", "title": "担当", "department": "経理部", "consent": "no"})
    row = lead_by_email(store, "jiro@example.co.jp")
    assert row["title"] == "代表取締役" and row["department"] == "経理部"  # crm beats web_form
    assert row["consent"] is None and row["legal_basis"] is None
    assert [e["lead_id"] for e in event_rows(store, "form_submit")] == [lead]


def test_a_download_records_the_asset(lite_forms: TestClient, lite: sa.Engine) -> None:
    forms, store = lite_forms, lite
    forms.post("/f/whitepaper", headers=FROM_SITE,
               files={"email": (None, "saburo@example.co.jp"),
                      "asset": (None, "経費精算ガイド.pdf")})
    [event] = event_rows(store, "download")
    assert (event["asset"], event["form"]) == ("経費精算ガイド.pdf", "whitepaper")
    assert event_rows(store, "form_submit") == []


def test_a_suppressed_address_does_not_get_consent_back_and_an_erased_one_is_not_recreated(
        forms: TestClient, store: sa.Engine, clock: Clock) -> None:
    with store.begin() as conn:
        for email, reason in (("gone@example.co.jp", "unsubscribe"),
                              ("erased@example.co.jp", "erasure")):
            conn.execute(suppressions.insert().values(
                email_hash=email_hash(email), reason=reason, created_at=clock.at))
    for email in ("gone@example.co.jp", "erased@example.co.jp"):
        response = forms.post("/f/contact", headers=FROM_SITE,
                              data={"email": email, "consent": "on", "company": "X"})
        assert response.status_code == 200
    gone = lead_by_email(store, "gone@example.co.jp")
    assert gone["consent"] is None and gone["legal_basis"] is None and gone["company"] == "X"
    assert rows(store, leads, leads.c.email == "erased@example.co.jp") == []
    assert [e["lead_id"] for e in event_rows(store)] == [gone["id"]]


def test_the_visitor_id_of_the_tag_identifies_the_visitor(lite_forms: TestClient,
                                                          lite: sa.Engine) -> None:
    forms, store = lite_forms, lite
    visitor = secrets.token_urlsafe(16)
    response = forms.post("/collect", content=(
        f'{{"kind": "view", "visitor": "{visitor}", "view": "{secrets.token_urlsafe(16)}", '
        f'"url": "{SITE}/download"}}'), headers={**FROM_SITE, "content-type": "text/plain"})
    assert response.status_code == 204
    forms.post("/f/contact", headers=FROM_SITE,
               data={"email": "shiro@example.co.jp", "_nvid": visitor})
    lead = lead_by_email(store, "shiro@example.co.jp")["id"]
    assert [(i["visitor_id"], i["lead_id"]) for i in rows(store, identities)] == [(visitor, lead)]
    assert [v["lead_id"] for v in event_rows(store, "page_view")] == [lead]
    assert rows(store, anonymous_views) == []


def test_next_redirects_only_into_the_site_and_json_callers_get_json(
        lite_forms: TestClient) -> None:
    forms = lite_forms
    ok = forms.post("/f/contact", headers=FROM_SITE,
                    data={"email": "a@example.co.jp", "_next": f"{SITE}/thanks"})
    assert ok.status_code == 303 and ok.headers["location"] == f"{SITE}/thanks"
    for target in ("https://evil.example/", "//evil.example", "javascript:alert(1)"):
        response = forms.post("/f/contact", headers=FROM_SITE,
                              data={"email": "a@example.co.jp", "_next": target})
        assert response.status_code == 200 and "location" not in response.headers
    response = forms.post("/f/contact", headers={**FROM_SITE, "accept": "application/json"},
                          data={"email": "a@example.co.jp"})
    assert response.json() == {"ok": True}
    assert response.headers["access-control-allow-origin"] == SITE


def test_the_referer_stands_in_for_a_missing_origin(lite_forms: TestClient,
                                                    lite: sa.Engine) -> None:
    forms, store = lite_forms, lite
    response = forms.post("/f/contact", headers={"referer": f"{SITE}/contact?x=1"},
                          data={"email": "b@example.co.jp"})
    assert response.status_code == 200
    assert rows(store, leads, leads.c.email == "b@example.co.jp") != []


HOSTILE: list[tuple[str, dict[str, str], dict[str, str], int]] = [
    ("/f/contact", {}, {"email": "c@example.co.jp"}, 403),
    ("/f/contact", {"origin": "https://evil.example"}, {"email": "c@example.co.jp"}, 403),
    ("/f/contact", {"referer": "https://evil.example/x"}, {"email": "c@example.co.jp"}, 403),
    ("/f/Contact<script>", FROM_SITE, {"email": "c@example.co.jp"}, 404),
    ("/f/" + "x" * 65, FROM_SITE, {"email": "c@example.co.jp"}, 404),
    ("/f/contact", FROM_SITE, {"email": "not an address"}, 400),
    ("/f/contact", FROM_SITE, {"email": "c@example.co.jp", "employees": "many"}, 400),
    ("/f/contact", FROM_SITE, {"email": "c@example.co.jp", "overseas_travel": "always"}, 400),
    ("/f/contact", FROM_SITE, {"email": "c@example.co.jp", "company": "x" * 1001}, 400),
    ("/f/contact", FROM_SITE, {"email": "c@example.co.jp", "_hp": "I am a bot"}, 200),
    ("/f/contact", FROM_SITE, {f"f{i}": "1" for i in range(60)}, 400),
]


@pytest.mark.parametrize(("path", "headers", "data", "status"), HOSTILE)
def test_hostile_posts_change_nothing(lite_forms: TestClient, lite: sa.Engine, path: str,
                                      headers: dict[str, str], data: dict[str, str],
                                      status: int) -> None:
    forms, store = lite_forms, lite
    before = snapshot(store)
    response = forms.post(path, headers=headers, data=data)
    assert response.status_code == status
    assert "<script>" not in response.text
    assert snapshot(store) == before


def test_uploads_and_oversized_bodies_are_refused(lite_forms: TestClient, lite: sa.Engine) -> None:
    forms, store = lite_forms, lite
    before = snapshot(store)
    upload = forms.post("/f/contact", headers=FROM_SITE, data={"email": "d@example.co.jp"},
                        files={"cv": ("cv.pdf", b"%PDF-1.4", "application/pdf")})
    assert upload.status_code == 400
    big = forms.post("/f/contact", headers=FROM_SITE,
                     data={"email": "d@example.co.jp", "company": "x" * 20_000})
    assert big.status_code == 413
    assert snapshot(store) == before


def test_the_error_page_names_the_fields_escaped(lite_forms: TestClient) -> None:
    forms = lite_forms
    response = forms.post("/f/contact", headers=FROM_SITE,
                          data={"email": "<script>alert(1)</script>", "employees": "x"})
    assert response.status_code == 400
    assert "<li>email</li>" in response.text and "<li>employees</li>" in response.text
    assert "alert(1)" not in response.text

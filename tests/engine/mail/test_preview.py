"""`engine preview TEMPLATE --lead EMAIL`: a lead from the store (SQLite and PostgreSQL),
rendered as it would be sent; files with --out; exit codes for the ways it can fail."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.store import db as store
from engine.store.schema import leads
from tests.engine.mail.conftest import TEMPLATES

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def fill(db_url: str) -> str:
    engine = store.connect(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(leads.insert().values(
                email="sato.hanako@example.jp", first_name="花子", last_name="佐藤",
                company="株式会社テスト", language="ja", owner="kato.t@example.co.jp",
                custom={"renewal_date": "2027-04-01"}, created_at=NOW, updated_at=NOW))
            conn.execute(leads.insert().values(
                email="bob@example.com", first_name="Bob", language="en",
                company="Bob's <Tools>", custom={}, created_at=NOW, updated_at=NOW))
    finally:
        engine.dispose()
    return db_url


@pytest.fixture(autouse=True)
def plain_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no engine.toml here: default settings
    for var in ("ENGINE_CONFIG", "ENGINE_SECRET", "ENGINE_TRACKING_URL", "ENGINE_TEMPLATES"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the tests below (PostgreSQL is covered by the first test)."""
    return fill(f"sqlite:///{tmp_path_factory.mktemp('store')}/store.db")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["preview", *args, "--templates", str(TEMPLATES)])
    return result.exit_code, result.stdout, result.stderr


def test_prints_subject_and_text(db_url: str) -> None:
    code, out, err = run("renewal/reconnect.html", "--lead", "SATO.Hanako@example.jp",
                         "--db", fill(db_url), "--from-owner")
    assert code == 0, err
    assert out.startswith("Subject: 経費精算システムの更新時期が近づいていませんか\n\n")
    assert "株式会社テスト\n佐藤 様" in out and "2027年4月1日" in out
    assert "kato.tです" in out  # no [owners] entry: the address's local part


def test_writes_html_text_and_eml(url: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "preview"
    code, out, err = run("journey/welcome.html", "--lead", "bob@example.com", "--db", url,
                         "--out", str(out_dir), "--flow", "buyer_journey", "--step", "welcome")
    assert code == 0, err
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["journey_welcome.eml", "journey_welcome.html", "journey_welcome.txt"]
    html = (out_dir / "journey_welcome.html").read_text(encoding="utf-8")
    assert 'lang="en"' in html and "Bob&#39;s &lt;Tools&gt;" not in html  # not in this one
    assert "utm_campaign" not in html  # links are tracked URLs
    msg = email.message_from_bytes((out_dir / "journey_welcome.eml").read_bytes(),
                                   policy=email.policy.default)
    assert msg["Subject"] == "Welcome: practical ideas for a better expense process"
    assert msg["To"] == "Bob <bob@example.com>"
    text = (out_dir / "journey_welcome.txt").read_text(encoding="utf-8")
    assert text.startswith("Example Corp.\n\nHello Bob,")


def test_internal_alert_preview(url: str, tmp_path: Path) -> None:
    code, out, err = run("alerts/churn_risk.txt", "--lead", "sato.hanako@example.jp",
                         "--db", url, "--flow", "revive_dormant")
    assert code == 0, err
    assert out.startswith("Subject: 【解約リスク】株式会社テスト から半年間反応がありません\n")
    assert "kato.t さん" in out and "フロー: revive_dormant" in out


def test_failures_have_exit_codes(url: str, tmp_path: Path) -> None:
    code, _, err = run("dormant/intro.html", "--lead", "nobody@example.jp", "--db", url)
    assert (code, err.strip()) == (1, "engine: no lead with email nobody@example.jp")
    code, _, err = run("dormant/nope.html", "--lead", "bob@example.com", "--db", url)
    assert code == 2 and "no template 'dormant/nope.html'" in err
    broken = tmp_path / "broken"
    (broken / "en" / "x").mkdir(parents=True)
    (broken / "en" / "x" / "bad.html").write_text(
        "{% block subject %}s{% endblock %}\n{{ lead.email.__class__ }}", encoding="utf-8")
    result = CliRunner().invoke(main, ["preview", "x/bad.html", "--lead", "bob@example.com",
                                       "--db", url, "--templates", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}/en/x/bad.html:2: access to attribute '__class__'" in result.stderr
    code, _, err = run("dormant/intro.html", "--lead", "bob@example.com", "--db",
                       "mysql://nowhere/db")
    assert code == 2 and "unsupported database" in err

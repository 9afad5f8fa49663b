"""`engine import events` through the CLI, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.store import db
from engine.store.schema import events, leads

FLOWS = """events:
    trial signup
"""


@pytest.fixture
def flows(tmp_path: Path) -> str:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "shared.flow").write_text(FLOWS, encoding="utf-8")
    return str(folder)


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    engine = db.connect(db_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(leads.insert(), [{"email": e, "created_at": now, "updated_at": now}
                                      for e in ("a@x.com", "b@x.com")])
    yield engine
    engine.dispose()


def run(db_url: str, flows: str, path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", "events", str(path), "--db", db_url, "--flows",
                                       flows, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def stored(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        query = sa.select(events, leads.c.email).join(leads, leads.c.id == events.c.lead_id)
        return [dict(r) for r in conn.execute(query.order_by(events.c.occurred_at)).mappings()]


BADGES = """メールアドレス,種別,来場日時,展示会名,キャンペーン,担当
A@X.com,exhibition visit,2025/10/01 10:00,JITW-2025,fall,佐藤
b@x.com,Seminar Attended,2025-10-02T14:00:00+09:00,DX セミナー,,
a@x.com,trial_signup,2025年10月3日,,,
a@x.com,page views,2025-10-04 09:00,,,
"""


def test_offline_events_go_in_with_their_properties(store: sa.Engine, db_url: str, flows: str,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "badges.csv"
    path.write_bytes(BADGES.encode("cp932"))
    code, out, _ = run(db_url, flows, path, "--source", "exhibition")
    assert code == 0, out
    assert "4 rows: 4 inserted" in out and "unknown columns, skipped: 担当" in out
    got = stored(store)
    assert [(e["email"], e["type"], e["name"]) for e in got] == [
        ("a@x.com", "exhibition", "JITW-2025"), ("b@x.com", "seminar", "DX セミナー"),
        ("a@x.com", "trial_signup", None), ("a@x.com", "page_view", None)]
    assert got[0]["occurred_at"] == datetime(2025, 10, 1, 1, tzinfo=UTC)
    assert got[0]["campaign"] == "fall" and got[0]["source"] == "exhibition"
    assert got[1]["occurred_at"] == datetime(2025, 10, 2, 5, tzinfo=UTC)
    # the same file again: nothing new
    code, out, _ = run(db_url, flows, path, "--source", "exhibition")
    assert code == 0 and "0 inserted, 4 already there" in out
    assert len(stored(store)) == 4


def test_unknown_emails_are_reported_not_dropped(store: sa.Engine, db_url: str, flows: str,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "scan.csv"
    path.write_text("email,type,occurred_at,name\na@x.com,exhibition,2025-10-01,JITW\n"
                    "new@x.com,exhibition,2025-10-01,JITW\nother@x.com,seminar,2025-10-01,S\n",
                    encoding="utf-8")
    code, out, _ = run(db_url, flows, path, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["summary"]["unknown_emails"] == 2
    assert doc["summary"]["unknown_email_rows"] == [3, 4]
    assert [r["row"] for r in doc["rejected_rows"]] == [3, 4]
    assert stored(store) == []
    code, out, _ = run(db_url, flows, path, "--skip-invalid")
    assert code == 0 and "2 rows with an email that has no lead (rows 3, 4)" in out
    assert [e["email"] for e in stored(store)] == ["a@x.com"]
    assert (tmp_path / "scan.csv.rejected.csv").exists()


def test_invalid_kinds_and_properties(store: sa.Engine, db_url: str, flows: str,
                                      tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("email,type,occurred_at,url,properties\n"
                    "a@x.com,webinar,2025-10-01,,\na@x.com,stage change,2025-10-01,,\n"
                    "a@x.com,page view,,/pricing,\na@x.com,page view,2025-10-01,/pricing,x\n",
                    encoding="utf-8")
    code, out, _ = run(db_url, flows, path)
    assert code == 1
    assert 'row 2, type "webinar": not an event kind' in out
    assert 'row 3, type "stage change": stage changes are recorded' in out
    assert "row 4, occurred_at: occurred_at is required" in out
    assert "unknown columns, skipped: properties" in out
    assert stored(store) == []

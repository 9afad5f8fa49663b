"""`engine query`: counts and lists the audience of a condition from a seeded store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.store.db import connect
from tests.engine.conditions_data import FLOWS, Lead, T, seed

DAY = dt.timedelta(days=1)
PEOPLE = [
    Lead({"stage": "lead", "employees": 50, "company": "A社"},
         events=[{"type": "page_view", "occurred_at": T - DAY, "url": "/pricing"}]),
    Lead({"stage": "customer", "employees": 800, "company": "B社"}, custom={"seats": 40},
         events=[{"type": "email_click", "occurred_at": T - 2 * DAY}]),
    Lead({"stage": None, "employees": None, "company": "' OR 1=1 --"}),
]


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> tuple[str, str]:
    engine = connect(db_url)
    with engine.begin() as conn:
        seed(conn, PEOPLE)
    engine.dispose()
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "definitions.flow").write_text(FLOWS, encoding="utf-8")
    return db_url, str(flows)


def run(store: tuple[str, str], *args: str) -> tuple[int, str]:
    url, flows = store
    result = CliRunner().invoke(main, ["query", *args[:1], flows, "--db", url,
                                       "--at", T.isoformat(), *args[1:]])
    return result.exit_code, result.output


def test_count_and_table(store: tuple[str, str]) -> None:
    code, out = run(store, 'not (stage is "lead")')
    assert code == 0, out
    assert out.startswith("2 leads match at 2026-11-23T10:00:00+00:00: not (stage is")
    assert "B社" in out and "' OR 1=1 --" in out and "A社" not in out
    assert "unknown" in out  # the third lead's stage


def test_scores_and_tiers_are_columns(store: tuple[str, str]) -> None:
    code, out = run(store, "interest > 0 or size is enterprise", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["count"] == 2
    rows = {r["company"]: r for r in doc["leads"]}
    assert rows["A社"]["interest"] == pytest.approx(10 * 0.5 ** 0.1, abs=0.01)
    assert rows["B社"]["size"] == "enterprise" and rows["A社"]["size"] == "smb"


def test_csv_lists_everyone_and_limit_cuts(store: tuple[str, str]) -> None:
    code, out = run(store, "employees is known or employees is unknown", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == "id,email,company,employees"
    assert len(out.splitlines()) == 4
    code, out = run(store, "employees is known or employees is unknown", "--limit", "1")
    assert "the first 1 of 3" in out


def test_at_an_earlier_time_sees_no_later_events(store: tuple[str, str]) -> None:
    url, flows = store
    earlier = (T - 3 * DAY).isoformat()
    result = CliRunner().invoke(main, ["query", "at least 1 activity", flows, "--db", url,
                                       "--at", earlier])
    assert result.exit_code == 0 and result.output.startswith("0 leads match")


def test_an_error_in_the_condition_is_shown(store: tuple[str, str]) -> None:
    code, out = run(store, "emploees > 3")
    assert code == 1 and "unknown name `emploees`" in out and "did you mean `employees`" in out
    assert "1 | emploees > 3" in out


def test_usage_errors(store: tuple[str, str], tmp_path: Path) -> None:
    url, _ = store
    result = CliRunner().invoke(main, ["query", "employees > 3", str(tmp_path / "nowhere"),
                                       "--db", url])
    assert result.exit_code == 2 and "no such file or folder" in result.output
    code, out = run(store, "employees > 3", "--at", "yesterday")
    assert code == 2 and "not a date" in out

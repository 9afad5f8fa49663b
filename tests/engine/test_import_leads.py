"""`engine import leads` through the CLI, against SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.store import db
from engine.store.emails import email_hash
from engine.store.schema import events, imports, leads, suppressions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "csv"
FLOWS = """attributes:
    stage: text one of ("lead", "mql", "customer", "recycle", "negotiation")
    renewal_date: date
    seats: number

merge:
    stage, owner: prefer crm over web_form then newest
    phone: newest wins, blank overwrites
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
    yield engine
    engine.dispose()


def run(db_url: str, flows: str, path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", "leads", str(path), "--db", db_url, "--flows",
                                       flows, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def all_leads(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["email"]: dict(r) for r in conn.execute(sa.select(leads)).mappings()}


def stage_events(engine: sa.Engine) -> list[tuple[str | None, str | None, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            sa.select(events.c.from_stage, events.c.to_stage, events.c.source)
            .where(events.c.type == "stage_change").order_by(events.c.id))]


def test_japanese_cp932_export_with_the_builtin_headers(store: sa.Engine, db_url: str,
                                                         flows: str) -> None:
    code, out, _ = run(db_url, flows, FIXTURES / "crm_cp932.csv", "--source", "crm")
    assert code == 0, out
    assert "CP932" in out and "unknown columns, skipped: 備考" in out
    got = all_leads(store)
    taro = got["taro.yamada@example.co.jp"]
    assert (taro["company"], taro["last_name"], taro["first_name"], taro["employees"],
            taro["industry"], taro["title"], taro["department"], taro["stage"]) == (
        "株式会社髙橋商事", "山田", "太郎", 1200, "商社", "部長", "経理部", "customer")
    assert got["hanako@example.jp"]["company"] == "(株)サンプル製作所"
    assert got["hanako@example.jp"]["employees"] == 300
    assert taro["provenance"]["company"]["source"] == "crm"


def test_duplicates_differing_in_case_and_width_are_one_lead(store: sa.Engine, db_url: str,
                                                             flows: str, tmp_path: Path) -> None:
    path = write(tmp_path / "dups.csv", "email,company,title\nA@x.com,ACME,\n"
                 "a@X.COM,,Manager\nａ@ｘ.ｃｏｍ,ACME Japan,\n")  # T-I3
    code, out, _ = run(db_url, flows, path)
    assert code == 0, out
    assert "2 repeating an address above" in out and "1 inserted" in out
    assert list(all_leads(store)) == ["a@x.com"]
    lead = all_leads(store)["a@x.com"]
    assert (lead["company"], lead["title"]) == ("ACME Japan", "Manager")


def test_line_breaks_in_names_are_stored_as_spaces(store: sa.Engine, db_url: str,
                                                   flows: str) -> None:
    code, _, _ = run(db_url, flows, FIXTURES / "names_crlf.csv")  # T-I4
    assert code == 0
    lead = all_leads(store)["crlf@example.com"]
    assert (lead["last_name"], lead["first_name"]) == ("山田 太郎", "Taro Evil")
    assert lead["company"] == '=HYPERLINK("http://x")'  # data is data; exports neutralise


def test_reimporting_the_same_file_changes_nothing(store: sa.Engine, db_url: str, flows: str,
                                                   tmp_path: Path) -> None:
    path = write(tmp_path / "crm.csv", "email,stage,phone,seats,renewal_date\n"
                 "a@x.com,lead,03-1111,40,2027/04/01\na@x.com,customer,,41,\n"
                 "b@x.com,mql,,,\n")
    assert run(db_url, flows, path, "--source", "crm")[0] == 0
    before = all_leads(store)
    assert before["a@x.com"]["custom"] == {"renewal_date": "2027-04-01", "seats": 41}
    assert before["a@x.com"]["stage"] == "customer" and before["a@x.com"]["phone"] is None
    code, out, _ = run(db_url, flows, path, "--source", "crm", "--format", "json")
    summary = json.loads(out)["summary"]
    assert (summary["inserted"], summary["updated"], summary["unchanged"]) == (0, 0, 2)
    assert all_leads(store) == before  # provenance and updated_at included
    assert stage_events(store) == []


def test_merge_precedence_across_two_sources(store: sa.Engine, db_url: str, flows: str,
                                             tmp_path: Path) -> None:
    crm = write(tmp_path / "crm.csv", "email,stage,owner,title\na@x.com,customer,佐藤,部長\n")
    form = write(tmp_path / "form.csv", "email,stage,owner,title\na@x.com,lead,,課長\n")
    assert run(db_url, flows, crm, "--source", "crm")[0] == 0
    assert run(db_url, flows, form, "--source", "web_form")[0] == 0
    lead = all_leads(store)["a@x.com"]
    # crm beats web_form for stage and owner; title: newest wins (the default); blank ignored
    assert (lead["stage"], lead["owner"], lead["title"]) == ("customer", "佐藤", "課長")
    assert lead["provenance"]["title"]["source"] == "web_form"
    assert lead["provenance"]["stage"]["source"] == "crm"
    crm2 = write(tmp_path / "crm2.csv", "email,stage\na@x.com,recycle\n")
    assert run(db_url, flows, crm2, "--source", "crm")[0] == 0
    assert all_leads(store)["a@x.com"]["stage"] == "recycle"
    assert stage_events(store) == [("customer", "recycle", "crm")]


def test_updated_at_column_decides_newest(store: sa.Engine, db_url: str, flows: str,
                                          tmp_path: Path) -> None:
    new = write(tmp_path / "new.csv", "email,title,更新日時\na@x.com,本部長,2026-03-01 10:00\n")
    old = write(tmp_path / "old.csv", "email,title,更新日時\na@x.com,課長,2025-03-01 10:00\n")
    assert run(db_url, flows, new, "--source", "crm")[0] == 0
    assert run(db_url, flows, old, "--source", "sheet")[0] == 0
    lead = all_leads(store)["a@x.com"]
    assert lead["title"] == "本部長"
    assert lead["provenance"]["title"] == {"source": "crm", "at": "2026-03-01T01:00:00+00:00"}


def test_blank_overwrites_only_where_the_rule_says(store: sa.Engine, db_url: str, flows: str,
                                                   tmp_path: Path) -> None:
    one = write(tmp_path / "one.csv", "email,phone,title\na@x.com,03-1111,部長\n")
    two = write(tmp_path / "two.csv", "email,phone,title\na@x.com,,\n")
    run(db_url, flows, one)
    run(db_url, flows, two)
    lead = all_leads(store)["a@x.com"]
    assert (lead["phone"], lead["title"]) == (None, "部長")


def test_stage_changes_become_events_but_a_new_lead_is_not_a_change(
        store: sa.Engine, db_url: str, flows: str, tmp_path: Path) -> None:
    run(db_url, flows, write(tmp_path / "a.csv", "email,stage\na@x.com,lead\nb@x.com,\n"))
    assert stage_events(store) == []
    run(db_url, flows, write(tmp_path / "b.csv", "email,stage\na@x.com,mql\nb@x.com,lead\n"),
        "--source", "crm")
    assert set(stage_events(store)) == {(None, "lead", "crm"), ("lead", "mql", "crm")}
    with store.connect() as conn:
        import_id = conn.execute(sa.select(sa.func.max(imports.c.id))).scalar_one()
        assert set(conn.execute(sa.select(events.c.import_id)).scalars()) == {import_id}


def test_any_invalid_row_means_nothing_is_written(store: sa.Engine, db_url: str, flows: str,
                                                  tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.csv", "email,従業員数,stage\na@x.com,100,lead\n"
                 "b@x.com,300-500,lead\nc@x.com,50,unknown-stage\nd@x.com,5,lead\n")
    code, out, err = run(db_url, flows, path)
    assert code == 1
    assert 'row 3, 従業員数 "300-500": a range' in out
    assert 'row 4, stage "unknown-stage": not one of the values' in out
    assert "Nothing was written" in err
    assert all_leads(store) == {}
    assert not (tmp_path / "mixed.csv.rejected.csv").exists()
    with store.connect() as conn:
        run_row = conn.execute(sa.select(imports)).mappings().one()
    assert (run_row["status"], run_row["rows_rejected"], run_row["rows_total"]) == ("failed", 2, 4)


def test_skip_invalid_imports_the_rest_and_writes_the_rejected_rows(
        store: sa.Engine, db_url: str, flows: str, tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.csv", "email,従業員数,company\na@x.com,100,ok\n"
                 "b@x.com,300-500,=cmd|' /C calc'!A0\nnot-an-email,5,＝SUM(A1)\n")
    code, out, _ = run(db_url, flows, path, "--skip-invalid")
    assert code == 0
    assert list(all_leads(store)) == ["a@x.com"]
    with (tmp_path / "mixed.csv.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["email", "従業員数", "company", "rejected_row", "rejected_reason"]
    assert lines[1][:4] == ["b@x.com", "300-500", "'=cmd|' /C calc'!A0", "3"]
    assert lines[1][4].startswith("従業員数: a range")
    assert lines[2][:4] == ["not-an-email", "5", "'＝SUM(A1)", "4"]
    assert lines[2][4].startswith("email: not an email")
    assert "rejected rows written to" in out


def test_broken_quoting_in_a_lead_file(store: sa.Engine, db_url: str, flows: str) -> None:
    code, out, _ = run(db_url, flows, FIXTURES / "broken_quotes.csv")  # T-I2
    assert code == 1
    assert re.search(r"row 3 .*: broken quoting: text after a closing quote", out)
    assert re.search(r"row 4 .*: broken quoting: a quote that is not closed", out)
    assert "4 rows (2 rejected)" in out
    assert all_leads(store) == {}


def test_existing_addresses_are_upserted(store: sa.Engine, db_url: str, flows: str,
                                         tmp_path: Path) -> None:  # T-I5
    run(db_url, flows, write(tmp_path / "a.csv", "email,company\na@x.com,Old\n"))
    code, out, _ = run(db_url, flows, write(tmp_path / "b.csv",
                                            "email,company\nA@X.com,New\nb@x.com,B\n"))
    assert code == 0 and "1 inserted, 1 updated, 0 unchanged" in out
    assert {e: r["company"] for e, r in all_leads(store).items()} == {"a@x.com": "New",
                                                                       "b@x.com": "B"}


def suppress(engine: sa.Engine, email: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(
            email_hash=email_hash(email), reason=reason, created_at=datetime.now(UTC)))


def test_suppressed_and_erased_addresses_stay_suppressed(store: sa.Engine, db_url: str,
                                                         flows: str, tmp_path: Path) -> None:
    suppress(store, "Gone@X.com", "erasure")  # T-I6
    suppress(store, "unsub@x.com", "unsubscribe")
    path = write(tmp_path / "a.csv", "email,company,consent\nｇｏｎｅ@x.com,X,yes\n"
                 "unsub@x.com,Y,はい\nok@x.com,Z,はい\n")
    code, out, _ = run(db_url, flows, path)
    assert code == 0
    assert "1 rows skipped: the address was erased" in out
    assert "consent not taken" in out
    got = all_leads(store)
    assert "gone@x.com" not in got
    assert got["unsub@x.com"]["consent"] is None and got["unsub@x.com"]["company"] == "Y"
    assert got["ok@x.com"]["consent"] is True
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(suppressions)).scalar() == 2


def test_mapping_file_and_value_maps(store: sa.Engine, db_url: str, flows: str,
                                     tmp_path: Path) -> None:
    path = write(tmp_path / "sfa.csv",
                 "メールアドレス,会社名,従業員数,商談ステータス,社内メモ,FAX\n"
                 "a@x.com,A社,1000名以上,受注,memo,03\n"
                 "b@x.com,B社,不明,見込み,,\n", "cp932")
    code, out, _ = run(db_url, flows, path, "--mapping", str(FIXTURES / "mapping_ja.toml"))
    assert code == 0, out
    assert "unknown columns, skipped: FAX" in out and "社内メモ" not in out
    got = all_leads(store)
    assert (got["a@x.com"]["employees"], got["a@x.com"]["stage"]) == (1000, "customer")
    assert (got["b@x.com"]["employees"], got["b@x.com"]["stage"]) == (None, "lead")


def test_usage_errors_exit_2(db_url: str, flows: str, tmp_path: Path) -> None:
    no_email = write(tmp_path / "x.csv", "会社名\nA\n")
    code, _, err = run(db_url, flows, no_email)
    assert code == 2 and "no email column" in err
    code, _, err = run(db_url, flows, tmp_path / "missing.csv")
    assert code == 2 and "no such file" in err
    bad_map = write(tmp_path / "m.toml", '[columns]\n"x" = "emial"\n')
    code, _, err = run(db_url, flows, write(tmp_path / "y.csv", "email\na@x.com\n"),
                       "--mapping", str(bad_map))
    assert code == 2 and "emial" in err
    dup = write(tmp_path / "d.csv", "email,メールアドレス\na@x.com,b@x.com\n")
    code, _, err = run(db_url, flows, dup)
    assert code == 2 and "keep one" in err


def test_a_crash_mid_import_writes_nothing_and_is_recorded(
        store: sa.Engine, db_url: str, flows: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.imports import import_file
    from engine.imports import run as run_module
    from engine.imports.leads import LeadsImport

    monkeypatch.setattr(run_module, "BATCH", 10)
    monkeypatch.setattr("engine.imports.leads.BATCH", 10)  # pages of addresses
    path = write(tmp_path / "big.csv", "email,company\n" + "".join(
        f"u{i}@x.com,C{i}\n" for i in range(55)))
    pages = 0
    real_save = LeadsImport._save

    def crash(self: LeadsImport, conn: sa.Connection, batch: Any) -> None:
        nonlocal pages
        pages += 1
        if pages == 3:
            raise ConnectionError("the database went away")
        real_save(self, conn, batch)

    monkeypatch.setattr(LeadsImport, "_save", crash)
    with pytest.raises(ConnectionError):
        import_file(store, "leads", path, flows=flows)
    assert all_leads(store) == {}
    with store.connect() as conn:
        row = conn.execute(sa.select(imports)).mappings().one()
    assert row["status"] == "failed" and "went away" in row["report"]["error"]
    monkeypatch.setattr(LeadsImport, "_save", real_save)
    report = import_file(store, "leads", path, flows=flows)  # resuming is running it again
    assert report.inserted == 55 and len(all_leads(store)) == 55


def test_japanese_leads_without_a_legal_basis_are_listed(db_url: str, flows: str,
                                                         store: sa.Engine,
                                                         tmp_path: Path) -> None:
    """T-I7: rows are imported, but the report lists leads in Japan (or of unknown country)
    with no record of how consent was obtained; foreign leads are not listed."""
    path = write(tmp_path / "jp.csv", "メールアドレス,国,同意取得方法\n"
                 "a@example.co.jp,JP,ウェブフォームでオプトイン\n"
                 "b@example.co.jp,JP,\n"
                 "c@example.com,US,\n"
                 "d@example.co.jp,,\n")
    code, out, _ = run(db_url, flows, path, "--format", "json")
    assert code == 0
    report = json.loads(out)["summary"]
    assert report["inserted"] == 4
    assert (report["no_legal_basis"], report["no_legal_basis_rows"]) == (2, [3, 5])
    with store.connect() as conn:
        basis = dict(conn.execute(sa.select(leads.c.email, leads.c.legal_basis)).all())
    assert basis["a@example.co.jp"] == "ウェブフォームでオプトイン"
    assert basis["b@example.co.jp"] is None
    # a later import that records the basis clears the finding
    path2 = write(tmp_path / "jp2.csv", "email,legal_basis\nb@example.co.jp,名刺交換\n")
    code, out, _ = run(db_url, flows, path2, "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["no_legal_basis"] == 0

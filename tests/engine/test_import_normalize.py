"""Normalising and validating cells: what is accepted, what is rejected and why (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.imports import normalize as N
from engine.imports.columns import BUILTIN, Mapping, key, resolve
from engine.imports.config import default
from engine.imports.validate import Columns, LeadRow, event_row, lead_row

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("raw", ["A@X.COM", "a@X.com", "ａ@ｘ.ｃｏｍ", "  Ａ＠ｘ．ｃｏｍ　",
                                 "a@x.com"])
def test_one_address_whatever_the_case_or_width(raw: str) -> None:  # T-I3
    assert N.email(raw) == "a@x.com"


@pytest.mark.parametrize("raw", ["a", "a@x", "a b@x.com", "山田 <a@x.com>", "a@@x.com", "a@x..com",
                                 "@x.com", "a@.com", "a@x.com\nb@x.com"])
def test_not_addresses(raw: str) -> None:
    with pytest.raises(N.Invalid):
        N.email(raw)


@pytest.mark.parametrize(("raw", "value"), [
    ("1200", 1200), ("1,200", 1200), ("１，２００名", 1200), ("５００", 500), ("約300人", 300),
    ("300名程度", 300), ("1.2万", 12000), ("12.5", 12.5), ("-5", -5), ("", None), ("  ", None),
    ("~300", 300),
])
def test_numbers(raw: str, value: float | None) -> None:
    assert N.number(raw) == value


@pytest.mark.parametrize(("raw", "reason"), [
    ("300-500", "a range"), ("300〜500", "a range"), ("300～500", "a range"),
    ("100から200", "a range"), ("1000名以上", "a bound"), ("100未満", "a bound"),
    ("500+", "a bound"), ("1,2,3", "not a number"), ("abc", "not a number"),
    ("12,34", "not a number"),
])
def test_numbers_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(N.Invalid, match=reason):
        N.number(raw)


def test_counts_are_whole_and_not_negative() -> None:
    assert N.count("1,200名") == 1200
    for raw, reason in [("12.5", "whole"), ("-3", "negative")]:
        with pytest.raises(N.Invalid, match=reason):
            N.count(raw)


@pytest.mark.parametrize("raw", ["2025/04/01", "2025-04-01", "2025年4月1日", "２０２５年４月１日",
                                 "2025.4.1", "20250401", "2025/4/1 00:00"])
def test_dates(raw: str) -> None:
    assert N.day(raw) == date(2025, 4, 1)
    assert N.instant(raw, TOKYO) == datetime(2025, 4, 1, tzinfo=TOKYO)


def test_times_and_offsets() -> None:
    assert N.instant("2025-04-01 10:30", TOKYO) == datetime(2025, 4, 1, 1, 30, tzinfo=UTC)
    assert N.instant("2025-04-01T10:30:00+09:00", UTC) == datetime(2025, 4, 1, 1, 30, tzinfo=UTC)
    assert N.instant("2025-04-01T01:30Z", TOKYO) == datetime(2025, 4, 1, 1, 30, tzinfo=UTC)
    later = N.instant("2025-04-01 10:30:15.5-0500", UTC)
    assert later == datetime(2025, 4, 1, 10, 30, 15, 500000, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize(("raw", "reason"), [
    ("2025-02-30", "no such date"), ("2025/13/01", "no such date"), ("令和7年4月1日", "not a date"),
    ("04/01/2025", "not a date"), ("yesterday", "not a date"),
])
def test_bad_dates(raw: str, reason: str) -> None:
    with pytest.raises(N.Invalid, match=reason):
        N.day(raw)


def test_a_date_attribute_refuses_a_time_of_day() -> None:
    with pytest.raises(N.Invalid, match="not a date and time"):
        N.day("2025-04-01 10:30")


@pytest.mark.parametrize(("raw", "value"), [
    ("true", True), ("YES", True), ("1", True), ("はい", True), ("同意", True), ("○", True),
    ("false", False), ("No", False), ("0", False), ("いいえ", False), ("同意しない", False),
    ("", None), ("ｙｅｓ", True),
])
def test_booleans(raw: str, value: bool | None) -> None:
    assert N.boolean(raw) is value


def test_boolean_rejected() -> None:
    with pytest.raises(N.Invalid, match="not yes or no"):
        N.boolean("maybe")


@pytest.mark.parametrize("raw", ["山田\r\n太郎", "山田\n太郎", "山田\u2028太郎", "山田\u2029太郎",
                                 "山田\r太郎", "山田\u0085太郎", "山田\t\x00太郎", "山田　　太郎"])
def test_line_breaks_in_names_become_one_space(raw: str) -> None:  # T-I4
    assert N.text(raw) == "山田 太郎"


CELLS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(CELLS)
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = N.text(raw)
    assert once is None or N.text(once) == once
    assert once is None or not any(c in once for c in "\r\n\u2028\u2029\x00")
    for fn in (N.email, N.number, N.boolean, N.day):
        try:
            value = fn(raw)
        except N.Invalid:
            continue
        if value is not None:
            shown = value.isoformat() if isinstance(value, date) else str(value).lower()
            assert fn(shown) == value


@given(st.integers(min_value=0, max_value=10**9))
def test_any_count_written_the_japanese_way_reads_back(n: int) -> None:
    grouped = f"{n:,}"
    wide = grouped.translate(str.maketrans("0123456789,", "０１２３４５６７８９，"))
    assert N.count(wide + "名") == n
    assert N.count(f"約{grouped}人") == n


# ------------------------------------------------------------------ headers and rows


def test_headers_match_attributes_builtin_japanese_and_mapping() -> None:
    assert key(" First Name ") == "first_name" and key("Ｅ-mail") == "e_mail"
    config = default()
    known = set(config.fields) | {"full_name", "updated_at"}
    headers = ["メールアドレス", "会社名", "First Name", "従業員数", "FAX", "社内メモ", "氏名"]
    mapping = Mapping(columns={key("社内メモ"): ""})
    got = resolve(headers, known, mapping, BUILTIN)
    assert got.targets == {0: "email", 1: "company", 2: "first_name", 3: "employees",
                           6: "full_name"}
    assert got.unknown == [(4, "FAX")]
    off = resolve(headers, known, Mapping(builtin=False))
    assert set(off.targets.values()) == {"first_name"}


def _lead(cells: list[str], headers: list[str]) -> LeadRow | list:  # type: ignore[type-arg]
    config = default()
    known = set(config.fields) | {"full_name", "updated_at"}
    targets = resolve(headers, known, Mapping()).targets
    return lead_row(2, cells, Columns(headers, targets), config, Mapping(), TOKYO)


def test_a_row_reports_every_problem_with_its_column() -> None:
    got = _lead(["bad", "300-500", "maybe", "Mars/Base"],
                ["email", "従業員数", "consent", "time_zone"])
    assert isinstance(got, list)
    assert [(p.row, p.column, p.value) for p in got] == [
        (2, "email", "bad"), (2, "従業員数", "300-500"), (2, "consent", "maybe"),
        (2, "time_zone", "Mars/Base")]


def test_full_name_is_split_family_name_first() -> None:
    got = _lead(["a@x.com", "山田　太郎"], ["email", "氏名"])
    assert isinstance(got, LeadRow)
    assert got.values == {"last_name": "山田", "first_name": "太郎"}
    one = _lead(["a@x.com", "山田太郎"], ["email", "氏名"])
    assert isinstance(one, LeadRow) and one.values["last_name"] == "山田太郎"


def test_missing_email_and_wrong_cell_count() -> None:
    got = _lead(["", "ACME"], ["email", "company"])
    assert isinstance(got, list) and got[0].reason == "an email is required"
    short = _lead(["a@x.com"], ["email", "company"])
    assert isinstance(short, list) and "1 cells, fewer than the 2 columns" in short[0].reason


def test_event_rows() -> None:
    config = default()
    headers = ["email", "type", "occurred_at", "name"]
    columns = Columns(headers, {0: "email", 1: "type", 2: "occurred_at", 3: "name"})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ok = event_row(2, ["A@x.com", "Seminar Attended", "2025/10/01 14:00", "DX セミナー"],
                   columns, config, Mapping(), TOKYO, now)
    assert not isinstance(ok, list)
    assert (ok.email, ok.type, ok.properties) == ("a@x.com", "seminar", {"name": "DX セミナー"})
    assert ok.occurred_at == datetime(2025, 10, 1, 5, tzinfo=UTC)
    for kind, reason in [("stage change", "stage changes are recorded"),
                         ("unsubscribe", "suppressions"), ("activity", "name one"),
                         ("webinar", "not an event kind")]:
        bad = event_row(3, ["a@x.com", kind, "2025-10-01", ""], columns, config, Mapping(), TOKYO,
                        now)
        assert isinstance(bad, list) and reason in bad[0].reason
    future = event_row(4, ["a@x.com", "download", "2027-01-01", ""], columns, config, Mapping(),
                       TOKYO, now)
    assert isinstance(future, list) and future[0].reason == "in the future"

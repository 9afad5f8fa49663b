"""Time zones, DST, holidays and schedules (RELIABILITY T-D1..T-D7)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dsl import ast as A
from engine.runtime.schedule import fire_times, trigger_for
from engine.runtime.windows import SendWindow, allowed_from, lead_zone, local_instant

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
BUSINESS = SendWindow(dt.time(9), dt.time(18), "business days", True, "Asia/Tokyo", True)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("at, expected", [
    # Friday 1 May 2026, 21:00 JST: Golden Week (Sat, Sun, 3-6 May) -> Thursday 7 May 09:00
    (utc(2026, 5, 1, 12), utc(2026, 5, 7, 0)),
    # New Year: 31 Dec and 1-3 Jan are closed -> Monday 4 Jan 2027 09:00 JST
    (utc(2026, 12, 31, 1), utc(2027, 1, 4, 0)),
    # inside the window: now
    (utc(2026, 12, 1, 2), utc(2026, 12, 1, 2)),
    # 2 Dec 05:00 JST (20:00 UTC the day before): the same local day at 09:00
    (utc(2026, 12, 1, 20), utc(2026, 12, 2, 0)),
])
def test_tokyo_business_days_and_holidays(at: dt.datetime, expected: dt.datetime) -> None:
    assert allowed_from(BUSINESS, TOKYO, "JP", at) == expected


@pytest.mark.parametrize("at, expected", [
    # Saturday 7 March 2026 20:00 EST; DST starts Sunday 8 March -> Monday 09:00 EDT = 13:00Z
    (utc(2026, 3, 8, 1), utc(2026, 3, 9, 13)),
    # Friday 30 Oct 2026 19:00 EDT; DST ends Sunday 1 Nov -> Monday 09:00 EST = 14:00Z
    (utc(2026, 10, 30, 23), utc(2026, 11, 2, 14)),
    # Thanksgiving 26 Nov 2026 is a US holiday -> Friday 27 Nov 09:00 EST
    (utc(2026, 11, 26, 15), utc(2026, 11, 27, 14)),
])
def test_new_york_quiet_hours_across_dst(at: dt.datetime, expected: dt.datetime) -> None:
    assert allowed_from(BUSINESS, NY, "US", at) == expected


def test_the_lead_zone_chain() -> None:
    assert lead_zone({"time_zone": "America/New_York"}, BUSINESS).key == "America/New_York"
    assert lead_zone({"time_zone": "Mars/Base", "country": "SG"}, BUSINESS).key == \
        "Asia/Singapore"
    assert lead_zone({"country": "zz"}, BUSINESS).key == "Asia/Tokyo"
    not_lead = SendWindow(dt.time(9), dt.time(18), "weekdays", False, "Europe/Berlin")
    assert lead_zone({"time_zone": "Asia/Tokyo"}, not_lead).key == "Europe/Berlin"


def test_local_times_in_gaps_and_folds_and_odd_offsets() -> None:
    # spring forward: 02:30 does not exist; the first instant after the gap is 03:00 EDT
    assert local_instant(dt.date(2026, 3, 8), dt.time(2, 30), NY).astimezone(UTC) == \
        utc(2026, 3, 8, 7)
    # fall back: 01:30 happens twice; the first (EDT) counts
    assert local_instant(dt.date(2026, 11, 1), dt.time(1, 30), NY).astimezone(UTC) == \
        utc(2026, 11, 1, 5, 30)
    kathmandu = ZoneInfo("Asia/Kathmandu")  # +05:45
    window = SendWindow(dt.time(9), dt.time(18), "every day", True, "Asia/Tokyo")
    assert allowed_from(window, kathmandu, "NP", utc(2026, 12, 1, 0)) == utc(2026, 12, 1, 3, 15)
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # a 30-minute DST shift
    # 22:00 UTC is 09:00 at +11:00 (summer time there); 21:59 is still too early
    assert allowed_from(window, lord_howe, "AU", utc(2026, 11, 30, 21, 59)) == \
        utc(2026, 11, 30, 22)


def test_an_asia_tokyo_lead_under_a_utc_schedule() -> None:
    """The flow ticks at 00:00 UTC (09:00 JST): a Tokyo lead may be mailed at once; at 12:00 UTC
    (21:00 JST) the email waits for 09:00 JST the next business day."""
    trigger = trigger_for(A.Schedule("every", days=("day",), times=("00:00",), zone="UTC"))
    times = fire_times(trigger, utc(2026, 12, 1), utc(2026, 12, 4))
    assert times == [utc(2026, 12, 2), utc(2026, 12, 3), utc(2026, 12, 4)]
    assert allowed_from(BUSINESS, TOKYO, "JP", times[0]) == times[0]
    assert allowed_from(BUSINESS, TOKYO, "JP", utc(2026, 12, 2, 12)) == utc(2026, 12, 3, 0)


@pytest.mark.parametrize("clock, start, expected", [
    # fall back: 01:30 happens twice on 1 Nov; the schedule fires once that night
    ("01:30", utc(2026, 10, 31), [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30),
                                  utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]),
    # spring forward: 02:30 does not exist on 8 March; fired once, at 03:30 EDT
    ("02:30", utc(2026, 3, 7), [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30),
                                utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]),
])
def test_daily_schedule_across_dst(clock: str, start: dt.datetime,
                                   expected: list[dt.datetime]) -> None:
    trigger = trigger_for(A.Schedule("every", days=("day",), times=(clock,),
                                     zone="America/New_York"))
    got = fire_times(trigger, start, start + dt.timedelta(days=4))
    assert got == expected
    assert all(a < b for a, b in zip(got, got[1:], strict=False))


def test_interval_and_weekday_schedules() -> None:
    start = utc(2026, 10, 30)
    hourly = trigger_for(A.Schedule("interval", interval=A.Duration(1, "hour"),
                                    zone="America/New_York"), start=start)
    got = fire_times(hourly, start, start + dt.timedelta(days=5))
    assert len(got) == len(set(got)) == 120  # the fall-back night's extra hour included
    weekdays = trigger_for(A.Schedule("every", days=("weekday",), times=("09:00", "13:30"),
                                      zone="Asia/Tokyo"))
    got = fire_times(weekdays, utc(2026, 10, 30), utc(2026, 11, 3))
    assert got == [utc(2026, 10, 30, 4, 30), utc(2026, 11, 2, 0), utc(2026, 11, 2, 4, 30),
                   utc(2026, 11, 3, 0)]
    cron = trigger_for(A.Schedule("cron", cron="0 8 1 * *", zone="Asia/Tokyo"))
    assert fire_times(cron, utc(2026, 11, 15), utc(2027, 1, 15)) == [
        utc(2026, 11, 30, 23), utc(2026, 12, 31, 23)]

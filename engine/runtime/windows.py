"""When an email may go: the lead's time zone, the policy's sending window, business days and
public holidays. Pure functions of the instant and the lead; the gate (engine.runtime.gate) uses
them to defer an email to the next allowed moment.

    window = SendWindow.from_policy(policies)         # 09:00-18:00, business days, Asia/Tokyo
    zone = lead_zone(lead, window.default_zone)        # lead.time_zone, else country, else default
    allowed_from(window, zone, country, at)            # `at` itself, or the next window's start

Local times are computed with zoneinfo, never with fixed offsets, so zones with 30 / 45-minute
offsets and DST changes come out right; a window that starts inside a spring-forward gap starts
at the first instant after the gap, and an ambiguous fall-back time means its first occurrence
(fold=0): one send, never two.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from dsl import ast as A

DEFAULT_ZONE = "Asia/Tokyo"
# The zone standing in for a country when the lead has none (the country's most populous zone).
COUNTRY_ZONES: Mapping[str, str] = {
    "JP": "Asia/Tokyo", "US": "America/New_York", "SG": "Asia/Singapore", "GB": "Europe/London",
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "KR": "Asia/Seoul", "CN": "Asia/Shanghai",
    "TW": "Asia/Taipei", "HK": "Asia/Hong_Kong", "IN": "Asia/Kolkata", "AU": "Australia/Sydney",
    "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "ID": "Asia/Jakarta", "MY": "Asia/Kuala_Lumpur",
    "PH": "Asia/Manila", "CA": "America/Toronto", "NP": "Asia/Kathmandu",
}
WEEKDAYS = frozenset(range(5))  # Monday..Friday
MAX_DAYS_AHEAD = 400  # a window that never opens is a configuration error, not an endless loop


@dataclass(frozen=True)
class SendWindow:
    start: dt.time = dt.time(0, 0)
    end: dt.time | None = None  # None: until midnight
    days: str = "every day"  # "weekdays", "business days", "every day"
    lead_zone: bool = False
    default_zone: str = DEFAULT_ZONE
    skip_holidays: bool = False

    @classmethod
    def from_policy(cls, policies: list[A.Policy]) -> SendWindow:
        hours = [line for p in policies for line in p.lines if isinstance(line, A.SendHours)]
        flags = {line.kind for p in policies for line in p.lines
                 if isinstance(line, A.PolicyFlag)}
        skip = "skip public holidays" in flags
        if not hours:
            return cls(skip_holidays=skip)
        h = hours[0]
        days = " ".join(h.days) if h.days else "every day"
        return cls(_clock(h.start), _clock(h.end), days, h.lead_zone,
                   h.default_zone or DEFAULT_ZONE, skip or days == "business days")

    @property
    def unrestricted(self) -> bool:
        return (self.start == dt.time(0, 0) and self.end is None and self.days == "every day"
                and not self.skip_holidays)


def _clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    if int(hours) == 24:
        return dt.time(23, 59, 59)
    return dt.time(int(hours), int(minutes))


@functools.lru_cache(maxsize=512)
def zone_info(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def lead_zone(lead: Mapping[str, Any], window: SendWindow) -> ZoneInfo:
    """The chain: the lead's own zone, else its country's, else the policy default (a zone name
    that does not exist counts as unknown)."""
    if window.lead_zone:
        for name in (lead.get("time_zone"), COUNTRY_ZONES.get((lead.get("country") or "").upper())):
            found = zone_info(name)
            if found is not None:
                return found
    return zone_info(window.default_zone) or ZoneInfo(DEFAULT_ZONE)


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:
        return frozenset()


def is_holiday(country: str | None, day: dt.date) -> bool:
    """A public holiday of the country (Japan's Golden Week and New Year included, with the
    substitute holidays the `holidays` package knows); unknown country: none."""
    if not country:
        return False
    return day in _holidays(country.upper(), day.year)


def day_allowed(window: SendWindow, country: str | None, day: dt.date) -> bool:
    if window.days in ("weekdays", "business days") and day.weekday() not in WEEKDAYS:
        return False
    if window.skip_holidays and is_holiday(country, day):
        return False
    # Japanese businesses close for the New Year whatever the holiday calendar says.
    return not (window.days == "business days" and (country or "").upper() == "JP"
                and (day.month, day.day) in ((1, 2), (1, 3), (12, 31)))


def local_instant(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first real instant at or after local ``day clock``: a time inside a spring-forward
    gap moves to the end of the gap; an ambiguous time is its first occurrence."""
    naive = dt.datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(dt.UTC).astimezone(zone)
    if back.replace(tzinfo=None) != naive:  # in a gap: the first instant after it
        a = naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
        b = naive.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
        lo, hi = min(a, b), max(a, b)
        after = hi.astimezone(zone).utcoffset()
        while hi - lo > dt.timedelta(seconds=1):  # the transition lies between lo and hi
            mid = lo + (hi - lo) / 2
            if mid.astimezone(zone).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return hi.replace(microsecond=0).astimezone(zone)
    return aware


def allowed_from(window: SendWindow, zone: ZoneInfo, country: str | None,
                 at: dt.datetime) -> dt.datetime:
    """``at`` when an email may go then, else the start of the next allowed window (UTC)."""
    at = at.astimezone(dt.UTC)
    if window.unrestricted:
        return at
    local = at.astimezone(zone)
    day = local.date()
    for _ in range(MAX_DAYS_AHEAD):
        if day_allowed(window, country, day):
            opens = local_instant(day, window.start, zone).astimezone(dt.UTC)
            closes = (local_instant(day, window.end, zone).astimezone(dt.UTC)
                      if window.end is not None
                      else local_instant(day + dt.timedelta(days=1), dt.time(0), zone)
                      .astimezone(dt.UTC))
            if at < closes:
                return max(at, opens)
        day += dt.timedelta(days=1)
    raise ValueError(f"the sending window never opens within {MAX_DAYS_AHEAD} days")


def next_local_midnight(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The start of the next local day (daily capacities reset then)."""
    day = at.astimezone(zone).date() + dt.timedelta(days=1)
    return local_instant(day, dt.time(0), zone).astimezone(dt.UTC)


def local_day(at: dt.datetime, zone: ZoneInfo) -> dt.date:
    return at.astimezone(zone).date()

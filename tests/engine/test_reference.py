"""The reference interpreter against docs/semantics.md, rule by rule, with hand-made leads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dsl import ast as A
from engine.conditions.model import ConditionError, Event, like_pattern
from engine.conditions.reference import evaluate, score_value, tier_of
from engine.conditions.text import parse_condition
from engine.conditions.values import ENTRIES, glob_match, json_value
from tests.engine.conditions_data import CTX_MODULES, T, context

CTX = context()
DAY = dt.timedelta(days=1)


def holds(text: str, lead: dict[str, Any] | None = None, events: list[Event] | None = None,
          at: dt.datetime = T) -> bool:
    cond, diags = parse_condition(text, CTX_MODULES, check=False)
    assert cond is not None, diags
    return evaluate(cond, lead or {}, events or [], at, CTX)


def ev(kind: str, ago: dt.timedelta, **props: str) -> Event:
    return Event(kind, T - ago, props)


# ---------------------------------------------------------------- unknown values


@pytest.mark.parametrize("text", [
    "employees > 100", "employees <= 100", 'stage is "lead"', 'stage is not "lead"',
    'stage in ("lead", "mql")', 'stage not in ("lead", "mql")', 'title contains "部長"',
    "renewal_date within 90 days", "renewal_date in last 9 days", "seats = seats",
    "size is smb", "size is not smb", "consent = true", "consent != true",
])
def test_every_comparison_with_an_unknown_value_is_false(text: str) -> None:
    assert not holds(text)
    assert holds(f"not ({text})")


def test_known_and_unknown() -> None:
    assert holds("stage is unknown and size is unknown and interest is known")
    assert holds("stage is known", {"stage": "lead"})
    assert not holds("stage is known", {"stage": None})


def test_texts_are_exact_and_patterns_ignore_ascii_case() -> None:
    lead = {"stage": "Lead", "title": "Sales Manager ÄB"}
    assert not holds('stage is "lead"', lead) and holds('stage is "Lead"', lead)
    assert holds('title contains "MANAGER"', lead) and holds('title starts with "sales"', lead)
    assert not holds('title ends with "äb"', lead)  # only ASCII letters fold
    assert holds('title matches "*manager*"', lead) and not holds('title matches "manager"', lead)


def test_globs() -> None:
    assert glob_match("/pricing/x", "/PRICING*") and glob_match("", "*")
    assert glob_match("100%_off", "100%_*") and not glob_match("100xyoff", "100%_*")
    assert glob_match("abcabc", "*a*b*c") and not glob_match("ab", "a*b*c")
    assert not glob_match("a" * 3000, "*a" * 60 + "*b")
    assert like_pattern("matches", "A%_!*") == "a!%!_!!%"
    assert like_pattern("contains", "*") == "%*%"


def test_numbers_booleans_custom_values() -> None:
    assert holds("employees >= 100 and seats < 50.5", {"employees": 100, "seats": 50.0})
    assert holds("consent is true and vip = false", {"consent": True, "vip": False})
    assert json_value("number", True) is None and json_value("number", 3) == 3.0
    assert json_value("date", "2025-02-30") is None and json_value("date", "2025-1-01") is None
    assert json_value("date", "2025-01-31") == dt.date(2025, 1, 31)
    assert json_value("text", 3) is None and json_value("boolean", "true") is None


# ---------------------------------------------------------------- dates


def test_date_windows() -> None:
    today = T.date()
    for days_ahead, within in ((0, True), (90, True), (91, False), (-1, False)):
        lead = {"renewal_date": today + days_ahead * DAY}
        assert holds("renewal_date within 90 days", lead) is within
    assert holds("renewal_date in last 30 days", {"renewal_date": today - 30 * DAY})
    assert not holds("renewal_date in last 30 days", {"renewal_date": today + DAY})
    assert holds("renewal_date more than 30 days ago", {"renewal_date": today - 31 * DAY})
    assert not holds("renewal_date more than 30 days ago", {"renewal_date": today - 30 * DAY})
    assert holds("renewal_date less than 30 days ago", {"renewal_date": today})


def test_date_arithmetic_and_datetime_attributes() -> None:
    today = T.date()
    assert holds("renewal_date - 90 days <= today", {"renewal_date": today + 90 * DAY})
    assert not holds("renewal_date - 90 days <= today", {"renewal_date": today + 91 * DAY})
    assert holds('renewal_date >= "2026-11-01"', {"renewal_date": dt.date(2026, 11, 1)})
    # created_at is an instant, compared by its UTC calendar date
    late = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert holds("created_at > today", {"created_at": late})  # 04:30 UTC on the 24th
    assert holds("renewal_date + 36 hours = today + 1 day", {"renewal_date": today})
    assert holds("renewal_date + 1 month = today + 30 days", {"renewal_date": today})


# ---------------------------------------------------------------- tiers


def test_tiers_first_match_in_entry_order() -> None:
    for employees, size in ((None, None), (0, "tiny"), (1, "tiny"), (2, "smb"), (99, "smb"),
                            (100, "midsize"), (499, "midsize"), (500, "enterprise")):
        assert tier_of("size", {"employees": employees}, [], T, CTX) == size
    assert tier_of("seniority", {"title": "代表取締役社長"}, [], T, CTX) == "executive"
    assert tier_of("seniority", {"title": "ceo"}, [], T, CTX) == "executive"
    assert tier_of("seniority", {"title": "営業部長"}, [], T, CTX) == "manager"
    assert tier_of("seniority", {"title": "intern"}, [], T, CTX) == "staff"
    assert tier_of("seniority", {}, [], T, CTX) is None
    assert holds("size is unknown") and holds("size in (smb, midsize)", {"employees": 5})


# ---------------------------------------------------------------- events


def test_windows_exclude_the_start_and_the_future() -> None:
    views = [ev("page_view", 7 * DAY), ev("page_view", DAY), ev("page_view", -DAY)]
    assert holds("at least 1 page view in last 7 days", {}, views)
    assert not holds("at least 2 page views in last 7 days", {}, views)  # 7 days ago: out
    assert holds("at least 2 page views", {}, views)  # the one after T does not exist yet
    assert not holds("at least 3 page views", {}, views)
    assert holds("at most 0 page views in last 12 hours", {}, views)
    assert holds("no page view in last 12 hours", {}, views)


def test_filters_and_activity() -> None:
    events = [ev("page_view", DAY, url="/Pricing/a"), ev("email_click", DAY, link="/x"),
              ev("email_sent", DAY), ev("stage_change", DAY, **{"from": "lead", "to": "mql"}),
              ev("download", DAY, asset="wp-1")]
    assert holds('at least 1 page view on "/pricing*"', {}, events)
    assert holds('at least 1 email click on "/x"', {}, events)
    assert holds('at least 2 activity on "/*"', {}, events)
    assert holds("at most 3 activity", {}, events)  # the send is not activity
    assert holds('at least 1 stage change to "mql" from "lead"', {}, events)
    assert not holds('at least 1 stage change to "lead"', {}, events)
    assert holds('at least 1 download where asset matches "WP-*", campaign != "x"', {}, [
        ev("download", DAY, asset="wp-1", campaign="y")])
    assert not holds('at least 1 download where campaign != "x"', {}, events)  # unknown


def test_short_verbs() -> None:
    events = [ev("email_click", DAY, flow="nurture", step="intro"),
              ev("email_open", 10 * DAY, flow="other", step="followup"),
              ev("seminar", DAY, name="JITW-2024 Tokyo"), ev("form_submit", DAY, form="Contact")]
    enrolled = {ENTRIES: {"nurture": T - 30 * DAY}}
    assert holds("clicked intro", enrolled, events)
    assert not holds("clicked followup", enrolled, events)
    # only clicks of the lead's latest run through the flow count; never entered: none
    assert not holds("clicked intro", {ENTRIES: {"nurture": T - DAY / 2}}, events)
    assert holds("clicked intro", {ENTRIES: {"nurture": T - DAY}}, events)  # the same instant
    assert not holds("clicked intro", {}, events)
    assert not holds("clicked intro", {ENTRIES: {"other": T - 30 * DAY}}, events)
    assert not holds("opened followup", {}, events) and holds("opened any email", {}, events)
    assert not holds("opened any email in last 7 days", {}, events)
    assert holds('attended "jitw-2024*"', {}, events) and holds('submitted "contact"', {}, events)
    with pytest.raises(ConditionError, match="outside any flow"):
        evaluate(A.Did("clicked", A.Name("intro")), {}, events, T, CTX.for_flow(None))


def test_recency() -> None:
    clicks = [ev("email_click", 70 * DAY), ev("email_click", 61 * DAY)]
    assert holds("last email click more than 60 days ago", {}, clicks)
    assert not holds("last email click less than 60 days ago", {}, clicks)
    assert not holds("last email click more than 60 days ago")  # never clicked
    assert holds("last email click less than 61 days ago", {}, clicks)  # at T - D counts


# ---------------------------------------------------------------- scores, segments, goal


def test_scores_decay_window_cap() -> None:
    # interest: +3 per email click, half-life 10 days, window 60 days, at most 60
    clicks = [ev("email_click", dt.timedelta(0)), ev("email_click", 10 * DAY),
              ev("email_click", 60 * DAY)]
    assert score_value("interest", {}, clicks, T, CTX) == pytest.approx(3 + 1.5)
    assert score_value("interest", {"industry": "maker"}, [], T, CTX) == 5
    many = [ev("form_submit", DAY)] + [ev("seminar", dt.timedelta(0))] * 4
    assert score_value("interest", {}, many, T, CTX) == 60  # 80 capped
    # plain: no half-life; +4 per sales call in last 5 days; -3 when vip = true
    plain = [ev("sales_call", 4 * DAY), ev("sales_call", 6 * DAY), ev("page_view", 400 * DAY)]
    assert score_value("plain", {"vip": True}, plain, T, CTX) == 4 + 1 - 3
    assert holds("plain >= 2 and not (plain > 2)", {"vip": True}, plain)


def test_segments_and_goal() -> None:
    active = [ev("page_view", DAY), ev("email_open", 2 * DAY)]
    assert holds("engaged", {}, active) and not holds("engaged", {}, active[:1])
    assert holds("goal", {}, [ev("page_view", DAY)] * 3)  # plain >= 3
    with pytest.raises(ConditionError, match="outside a flow"):
        evaluate(A.GoalRef(), {}, [], T, CTX.for_flow(None))


def test_scores_and_conditions_ignore_automated_events() -> None:
    """A click or open the tracking server flagged as automated (a link scanner, a mail
    proxy) gives no points, and no condition sees it: counts, the verbs, dormancy and
    recency count a person's clicks and opens only."""
    def auto(kind: str, ago: dt.timedelta) -> Event:
        return Event(kind, T - ago, {}, machine=True)

    person, scanner = ev("email_click", DAY), auto("email_click", DAY)
    assert score_value("plain", {}, [ev("page_view", DAY), auto("page_view", DAY)], T, CTX) \
        == 1.0
    assert score_value("interest", {}, [scanner, scanner], T, CTX) == 0.0
    assert score_value("interest", {}, [person, scanner], T, CTX) == pytest.approx(
        3 * 0.5 ** (1 / 10))
    assert not holds("at least 2 email clicks", events=[person, scanner])
    assert holds("at least 1 email clicks", events=[person, scanner])
    assert not holds("clicked any email", events=[scanner])
    assert not holds("opened any email", events=[auto("email_open", DAY)])
    assert holds("no activity in last 180 days", events=[scanner, auto("email_open", DAY)])
    assert not holds("no activity in last 180 days", events=[auto("page_view", DAY)])
    assert holds("last email click more than 60 days ago",
                 events=[ev("email_click", 90 * DAY), scanner])


def test_rows_carry_the_machine_flag() -> None:
    """``events.machine`` is TRUE or NULL in the store, and absent before migration 0004:
    only TRUE is automated."""
    from engine.conditions.rows import event_from_row

    row = {"type": "email_click", "occurred_at": T}
    assert event_from_row({**row, "machine": True}).machine is True
    assert event_from_row({**row, "machine": None}).machine is False
    assert event_from_row(row).machine is False

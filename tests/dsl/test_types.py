"""Types and values (E03xx): comparisons, operators, `set`, declarations, tiers; units, days,
times, zones, cron, schedules, the policy, splits. Also: correct flows pass, odd trees never
crash a pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.check import Context
from dsl.checks.cron import cron_problem
from dsl.checks.definitions import check_definitions
from dsl.checks.events import check_events
from dsl.checks.names import check_names
from dsl.checks.references import check_references
from dsl.checks.types import check_types
from dsl.checks.values import check_values
from tests.dsl import strategies
from tests.dsl.test_names import SHARED, check, codes, flow, one, parse

MINE = (check_definitions, check_names, check_references, check_events, check_types,
        check_values)
ROOT = Path(__file__).parent.parent.parent


# ---------------------------------------------------------------- comparisons


@pytest.mark.parametrize("cond, code, message", [
    ('renewal_date is "soon"', "E0302", '`renewal_date` is a date but "soon" is a text'),
    ("renewal_date = 90", "E0302", "`renewal_date` is a date but 90 is a number"),
    ('employees >= "500"', "E0302", '`employees` is a number but "500" is a text'),
    ("stage is 5", "E0302", "`stage` is a text but 5 is a number"),
    ('"lead" = stage and consent is "true"', "E0302", '`consent` is a boolean but "true" is a '
                                                      "text"),
    ('size is "smb"', "E0302", '`size` is a tier but "smb" is a text'),
    ('renewal_date < "2025-02-30"', "E0304", '"2025-02-30" is not a real date'),
    ("size > smb", "E0303", "`size` is a tier: its categories have no order, so `>` does not "
                            "apply"),
    ('stage < "m"', "E0303", "`stage` is a text: `<` only compares numbers and dates"),
    ("consent >= true", "E0303", "`consent` is a boolean: `>=` only compares numbers and dates"),
    ('employees contains "0"', "E0303", "`employees` is a number: `contains` works on texts"),
    ("stage within 30 days", "E0303", "`stage` is a text: `within` works on dates"),
    ("interest in last 3 days", "E0303", "`interest` is a number: `in last` works on dates"),
    ("employees - 3 days > today", "E0303", "`employees` is a number: `- 3 days` works on "
                                            "dates"),
    ('stage in ("lead", 3)', "E0302", "`stage` is a text but 3 is a number"),
])
def test_type_errors(cond: str, code: str, message: str) -> None:
    d = one(SHARED, f"segment s: {cond}\n")
    assert (d.code, d.message) == (code, message)
    assert d.span.file == "f1.flow" and d.span.line == 1


def test_hints_say_how_to_write_it() -> None:
    assert one(SHARED, 'segment s: employees >= "500"\n').hint == (
        "write the number without quotes: 500")
    assert one(SHARED, 'segment s: size is "smb"\n').hint == (
        "categories are written without quotes: size is smb")
    assert one(SHARED, "segment s: renewal_date = 90\n").hint == (
        "for a time from now, write `renewal_date within 90 days`")
    d = one(SHARED, 'segment s: renewal_date is "soon"\n')
    assert (d.span.column, d.span.end_column) == (28, 34)


@pytest.mark.parametrize("cond", [
    'renewal_date < "2025-04-01"', "renewal_date - 90 days < today", "today > renewal_date",
    "renewal_date within 90 days", "created_at more than 30 days ago", "interest >= 40.5",
    "consent is true", "consent != false", 'stage in ("lead", "mql")', "size in (smb)",
    "size is not enterprise", "stage is known", 'title starts with "CEO"', "employees > interest",
])
def test_well_typed_conditions(cond: str) -> None:
    assert codes(SHARED, f"segment s: {cond}\n") == []


# ---------------------------------------------------------------- set, declarations, tiers


def test_set_values() -> None:
    found = check(SHARED, flow("set consent to \"yes\"", "set employees to 10",
                               'set stage to "mqll"', "set renewal_date to today + 30 days",
                               'set renewal_date to "2025-13-01"', "set stage to title"))
    assert [d.code for d in found] == ["E0305", "E0309", "E0304"]
    assert found[0].message == '`consent` is a boolean but "yes" is a text'
    assert found[1].hint == "did you mean `mql`?"


def test_attribute_declarations() -> None:
    found = check("attributes:\n    a: datetime\n    b: string\n    c: colour\n"
                  '    d: number one of (1, "two", three)\n    e: boolean one of (true)\n')
    assert [d.code for d in found] == ["E0301", "E0301", "E0301", "E0306", "E0204"]
    assert [d.hint for d in found[:3]] == ["did you mean `date`?", "did you mean `text`?",
                                           "the types are: text, number, date, boolean"]
    assert (found[0].span.column, found[0].span.end_column) == (8, 16)


def test_undeclared_type_does_not_cascade() -> None:
    assert codes("attributes:\n    a: colour\n", "segment s: a > 3 and a contains \"x\"\n") == [
        "E0301"]


def test_tier_rules_must_fit_the_source() -> None:
    found = check("tier a from industry:\n    x 1 to 9\n    y otherwise\n"
                  'tier b from employees:\n    x in ("a")\n')
    assert [d.code for d in found] == ["E0308", "E0308"]
    assert found[0].span.line == 2


def test_wait_until_needs_a_date() -> None:
    assert codes(SHARED, flow("wait until stage")) == ["E0307"]
    assert codes(SHARED, flow("wait until renewal_date - 30 days", 'wait until "2025-04-01"')) == []


# ---------------------------------------------------------------- values


def test_durations() -> None:
    found = check(flow("wait 3 dyas", "wait 0 days", "re-enter after 2 fortnights"))
    assert [d.code for d in found] == ["E0310", "E0311", "E0310"]
    assert found[0].hint == "did you mean `days`?"
    assert (found[0].span.column, found[0].span.end_column) == (10, 16)


@pytest.mark.parametrize("schedule, code, hint", [
    ('schedule every tuseday at 09:00 "Asia/Tokyo"', "E0312", "did you mean `tuesday`?"),
    ('schedule every mondays, thursdays at 09:00, 25:30', "E0313", None),
    ('schedule every day at 09:00 "Asia/Tokio"', "E0314", "did you mean `Asia/Tokyo`?"),
    ('schedule every 15 minuts', "E0310", "did you mean `minutes`?"),
    ('schedule cron "0 9 * 1-5"', "E0315", None),
    ('schedule cron "0 9 * * fri-mon" "Mars/Base"', "E0315", None),
])
def test_schedules(schedule: str, code: str, hint: str | None) -> None:
    found = check(flow('send a "a.html"', head='enter when stage is "lead"') + f"    {schedule}\n")
    assert found and found[0].code == code, found
    if hint:
        assert found[0].hint == hint


def test_schedule_spans_point_at_the_word() -> None:
    found = check(flow(head='schedule every monday, tusday at 09:00, 9:60 "Asia/Tokio"'))
    assert [(x.code, x.span.column) for x in found] == [
        ("E0312", 28), ("E0313", 45), ("E0314", 50)]
    assert (found[0].span.end_column, found[2].span.end_column) == (34, 62)


def test_schedule_every_day_word_and_zone_spans() -> None:
    found = check(flow(head='schedule every mondey at 09:00, 9:60 "Asia/Tokio"'))
    assert [(d.code, d.span.column) for d in found] == [
        ("E0312", 20), ("E0313", 37), ("E0314", 42)]


def test_flows_need_one_schedule_when_entered_by_condition() -> None:
    assert codes(flow('send a "a.html"', head='enter when stage is "lead"')) == ["E0316"]
    assert codes(flow('send a "a.html"')) == []  # entered on an event
    assert codes(flow("schedule every day", "schedule every monday",
                      head='enter when stage is "lead"')) == ["E0317"]


def test_policy_values() -> None:
    found = check("policy:\n    at most 2 messages per lead per 7 days\n"
                  "    at most 0 emails per lead per day\n"
                  '    send between 18:00 and 09:00 on weekday, default "Asia/Tokio"\n')
    assert [d.code for d in found] == ["E0320", "E0322", "E0318", "E0319", "E0314"]
    assert found[3].hint == "did you mean `weekdays`?"
    assert [d.span.column for d in found[2:]] == [28, 37, 54]
    assert codes("policy:\n    send between 09:00 and 18:00 on business days in lead time zone, "
                 'default "Asia/Tokyo"\n    at most 2 emails per lead per week\n') == []


def test_split_shares_and_limits() -> None:
    found = check(SHARED, flow("split s:", "    a 0%", "    b 100%",
                               "repeat every 7 days, at most 0 times:", '    send r "r.html"',
                               "handoff to inside_sales by handoff priority, at most 0 per day"))
    assert [d.code for d in found] == ["E0321", "E0322", "E0322"]
    assert found[2].span.column == 58


@pytest.mark.parametrize("expr, ok", [
    ("30 9 * * 1-5", True), ("*/15 * * * *", True), ("0 9 1,15 jan-mar mon,wed", True),
    ("0 0 * * 7", True), ("0 9 * *", False), ("60 * * * *", False), ("0 24 * * *", False),
    ("0 0 0 * *", False), ("0 0 * 13 *", False), ("*/0 * * * *", False), ("5-1 * * * *", False),
    ("0 9 * * funday", False), ("1, * * * *", False), ("0 9 * * * *", False),
])
def test_cron(expr: str, ok: bool) -> None:
    assert (cron_problem(expr) is None) == ok


# ---------------------------------------------------------------- correct flows, odd trees


def test_kitchen_sink_and_shared_flows_have_no_name_or_type_errors() -> None:
    src = (ROOT / "tests/cases/parse/kitchen_sink.flow").read_text(encoding="utf-8")
    assert codes(src) == []
    shared = ROOT / "flows/shared.flow"
    if shared.exists():
        assert codes(shared.read_text(encoding="utf-8")) == []


def test_a_realistic_flow_is_clean() -> None:
    src = SHARED + """\
segment engaged: at least 3 page views on "/pricing*" in last 30 days or clicked any email
flow onboarding "New lead onboarding":
    schedule every weekday at 09:30 "Asia/Tokyo"
    enter when stage is "lead" and created_at in last 7 days and not (size is smb)
    exit when stage in ("customer") or clicked welcome
    goal when engaged and interest >= 20
    re-enter after 180 days
    send welcome "demo/intro.html" from owner or "mkt@example.com"
    wait until opened welcome or 3 days
    if opened welcome in last 7 days:
        send followup "demo/followup.html"
    else:
        wait until renewal_date - 60 days
        set stage to "mql"
    on goal:
        handoff to inside_sales by handoff priority, at most 20 per day
        notify owner or team inside_sales "demo/alert.txt"
"""
    templates = frozenset({"demo/intro.html", "demo/followup.html", "demo/alert.txt"})
    assert check(src, templates=templates) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(strategies.modules(), min_size=1, max_size=3))
def test_passes_never_raise(modules: list[A.Module]) -> None:
    for ctx in (Context(), Context(frozenset({"a.html"}))):
        for p in MINE:
            for d in p(modules, ctx):
                assert d.code[:3] in ("E02", "E03") and d.message and "\n" not in d.message
                assert "\n" not in (d.hint or "") and not any("\n" in n for n in d.notes)


def test_parsed_odd_combinations_never_raise() -> None:
    modules = parse(SHARED, flow(
        "goal when goal and clicked x", "on goal:", "    exit", "on goal:", "    exit",
        "split x:", "    x 100%:", "        split x:", "            x 100%",
        "set size to today - 3 days", "wait until today + 1 day",
        "if not not (true is consent or 3 = 3 or \"a\" in (b, 3, today)):", "    exit"))
    for p in MINE:
        p(modules, Context(frozenset()))


def test_messages_stay_on_one_line() -> None:
    send = A.Send("x\ny", ("a/x.html",))
    module = A.Module("m.flow", (A.Flow("f", None, (
        A.EnterOn(A.EventMatch(("form", "submit"))), send, send,
        A.If((A.Branch(A.Did("clicked", A.Name("z")), (A.ExitStep(),)),)))),))
    found = [d for p in MINE for d in p([module], Context())]
    assert [d.code for d in found] == ["E0208", "E0212"]
    assert all("\n" not in d.message + (d.hint or "") + "".join(d.notes) for d in found)
    assert found[0].message == "two steps of flow `f` are named `x\\ny`"

"""Merge rules as the flows write them, resolved without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dsl import ast as A
from dsl.parser import parse_source
from engine.imports.merge import NEWEST, Rules, Stamp, merge, resolve

T0 = datetime(2026, 4, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)

FLOW = """merge:
    stage, owner: prefer crm over import over web_form then newest
    owner: prefer crm then newest, blank overwrites
    title: newest wins
    industry: prefer crm over web_form
    phone: newest wins, blank overwrites
"""


def rules() -> Rules:
    module, diags = parse_source("m.flow", FLOW)
    assert module is not None and not diags
    return Rules.from_modules([module])


def test_rules_come_from_the_merge_block() -> None:
    r = rules()
    assert r.rule("stage").sources == ("crm", "import", "web_form") and r.rule("stage").then_newest
    assert r.rule("owner").blank_overwrites is False  # the first rule for a field wins (E0414)
    assert r.rule("title") == A.MergeRule(("title",), ()) and r.rule("company") is NEWEST


def test_a_preferred_source_wins_whatever_the_time() -> None:
    r = rules().rule("stage")
    assert resolve(r, "customer", Stamp("crm", T0), "lead", Stamp("web_form", T1)).changed is False
    out = resolve(r, "lead", Stamp("web_form", T1), "customer", Stamp("crm", T0))
    assert out.changed and out.value == "customer" and out.stamp == Stamp("crm", T0)


def test_a_listed_source_beats_an_unlisted_one() -> None:
    r = rules().rule("stage")
    assert not resolve(r, "mql", Stamp("web_form", T0), "lead", Stamp("spreadsheet", T1)).changed
    assert resolve(r, "lead", Stamp("spreadsheet", T1), "mql", Stamp("web_form", T0)).changed


def test_then_newest_decides_between_equals() -> None:
    r = rules().rule("stage")
    assert resolve(r, "a", Stamp("x", T0), "b", Stamp("y", T1)).changed  # both unlisted
    assert not resolve(r, "a", Stamp("x", T1), "b", Stamp("y", T0)).changed
    strict = rules().rule("industry")  # no `then newest`: between unlisted sources, first stays
    assert not resolve(strict, "a", Stamp("x", T0), "b", Stamp("y", T1)).changed
    # ... but a source may always update its own value with a newer one
    assert resolve(strict, "a", Stamp("x", T0), "b", Stamp("x", T1)).changed
    assert not resolve(strict, "a", Stamp("x", T1), "b", Stamp("x", T0)).changed


def test_newest_wins_compares_times() -> None:
    assert resolve(NEWEST, "部長", Stamp("crm", T0), "課長", Stamp("web_form", T1)).changed
    assert not resolve(NEWEST, "部長", Stamp("crm", T1), "課長", Stamp("web_form", T0)).changed


def test_a_blank_never_overwrites_unless_the_rule_says_so() -> None:
    assert not resolve(NEWEST, "部長", Stamp("crm", T0), None, Stamp("crm", T1)).changed
    r = rules().rule("phone")
    out = resolve(r, "03-1111", Stamp("crm", T0), None, Stamp("crm", T1))
    assert out.changed and out.value is None and out.stamp == Stamp("crm", T1)
    # a blank that was asserted keeps its place under the rule: an older value does not refill it
    assert not resolve(r, None, Stamp("crm", T1), "03-1111", Stamp("web", T0)).changed


def test_an_unset_field_takes_any_value() -> None:
    r = rules().rule("industry")
    out = resolve(r, None, None, "商社", Stamp("web_form", T0))
    assert out.changed and out.stamp == Stamp("web_form", T0)


def test_an_equal_value_changes_nothing_unless_a_better_source_takes_it_over() -> None:
    r = rules().rule("stage")
    assert resolve(r, "lead", Stamp("web_form", T0), "lead", Stamp("web_form", T1)).stamp is None
    assert resolve(NEWEST, "x", Stamp("a", T0), "x", Stamp("b", T1)).stamp is None
    out = resolve(r, "lead", Stamp("web_form", T0), "lead", Stamp("crm", T1))
    assert not out.changed and out.stamp == Stamp("crm", T1)


def test_merge_returns_only_what_changes() -> None:
    current = {"stage": "customer", "title": "部長"}
    provenance = {"stage": Stamp("crm", T0).to_json(), "title": Stamp("crm", T0).to_json()}
    values, stamps = merge(rules(), current, provenance,
                           {"stage": "lead", "title": "本部長", "company": None},
                           Stamp("web_form", T1))
    assert values == {"title": "本部長"}
    assert stamps == {"title": {"source": "web_form", "at": T1.isoformat()}}


def test_stamps_round_trip_and_bad_ones_are_ignored() -> None:
    stamp = Stamp("crm", T0)
    assert Stamp.from_json(stamp.to_json()) == stamp
    for bad in (None, "crm", {"source": "crm"}, {"source": "crm", "at": "yesterday"}):
        assert Stamp.from_json(bad) is None


SOURCES = st.sampled_from(["crm", "import", "web_form", "other"])
VALUES = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
TIMES = st.integers(0, 3).map(lambda d: T0 + timedelta(days=d))
RULES = st.sampled_from([rules().rule(f) for f in ("stage", "title", "industry", "phone")])


@given(RULES, VALUES, st.one_of(st.none(), st.tuples(SOURCES, TIMES)), VALUES, SOURCES, TIMES)
def test_offering_the_same_value_twice_changes_nothing_the_second_time(
        rule: A.MergeRule, old: Any, old_stamp: Any, new: Any, source: str, at: datetime) -> None:
    stamp = Stamp(*old_stamp) if old_stamp else None
    first = resolve(rule, old, stamp, new, Stamp(source, at))
    value = first.value if first.changed else old
    after = first.stamp or stamp
    second = resolve(rule, value, after, new, Stamp(source, at))
    assert not second.changed and second.stamp is None

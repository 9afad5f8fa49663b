"""The never-true reasoning (dsl.logic): value sets, atoms, the solver, and its soundness."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.formatter import condition as show
from dsl.logic.facts import Facts
from dsl.logic.sets import INF, Interval, NumSet, PatternTest, TextSet, Values, describe_interval
from dsl.logic.solve import Reasoner
from dsl.parser import parse_source

DEFS = """\
attributes:
    stage: text one of ("lead", "mql", "customer")
    renewal_date: date

tier size from employees:
    smb         2 to 99
    midsize     100 to 499
    enterprise  500 and above

tier seniority from title:
    executive   matches ("*社長*", "CEO*")
    staff       otherwise

score interest:
    +5 per email click
    at most 100

segment big: employees >= 500
"""


def parse_condition(text: str, defs: str = DEFS) -> tuple[A.Condition, Reasoner]:
    module, diags = parse_source("t.flow", defs + f"\nsegment under_test: {text}\n")
    assert module is not None, [d.message for d in diags]
    seg = module.items[-1]
    assert isinstance(seg, A.Segment)
    return seg.condition, Reasoner(Facts.of([module]))


def never(text: str) -> bool:
    cond, r = parse_condition(text)
    return r.never_true(cond) is not None


# ---------------------------------------------------------------- sets


def test_intervals_intersect_with_open_and_closed_ends() -> None:
    assert Interval(1, 5).intersect(Interval(5, 9)) == Interval(5, 5)
    assert Interval(1, 5, True, False).intersect(Interval(5, 9)).is_empty()
    assert not Interval(-INF, INF, False, False).is_empty()


def test_numsets_union_complement_and_describe() -> None:
    s = NumSet.of(Interval(1, 2), Interval(2, 3, False, True), Interval(7, 7))
    assert s.parts == (Interval(1, 3), Interval(7, 7))
    comp = s.complement()
    assert comp.intersect(s).is_empty()
    assert comp.union(s) == NumSet.compare(">", -INF)
    assert NumSet.compare("!=", 3).intersect(NumSet.point(3)).is_empty()
    assert describe_interval(Interval(500, INF, True, False)) == "500 and above"
    assert describe_interval(Interval(-INF, 2, False, False)) == "below 2"
    assert describe_interval(Interval(100, 100)) == "100"
    assert describe_interval(Interval(2, 99)) == "2 to 99"


def test_textsets() -> None:
    one_of = TextSet(frozenset({"a", "b"}))
    assert one_of.intersect(TextSet(None, frozenset({"a", "b"}))).is_empty()
    assert not one_of.intersect(TextSet(None, frozenset({"a"}))).is_empty()
    starts = TextSet(tests=(PatternTest("starts with", ("x",)),))
    assert one_of.intersect(starts).is_empty()
    assert not TextSet(frozenset({"Xy"})).intersect(starts).is_empty()  # case may not matter
    assert one_of.complement() == TextSet(None, frozenset({"a", "b"}))
    assert starts.complement() == TextSet(tests=(PatternTest("starts with", ("x",), True),))


def test_values_track_unknown() -> None:
    known = Values(unknown=False)
    unknown = Values(True, NumSet(()), TextSet(frozenset()), TextSet(frozenset()), False)
    assert known.intersect(unknown).is_empty()
    assert not Values().is_empty()


# ---------------------------------------------------------------- the solver


@pytest.mark.parametrize("text", [
    "employees > 500 and employees < 100",
    "employees = 3 and employees = 4",
    "employees in (1, 2) and employees > 5",
    'stage is "lead" and stage is "mql"',
    'stage is "lead" and stage not in ("lead", "mql")',
    "industry is known and industry is unknown",
    "size is enterprise and employees < 100",
    "size in (smb, midsize) and employees >= 500",
    'stage is "custmer"',
    'stage in ("custmer", "prospect")',
    "no page views in last 30 days and at least 1 page view in last 30 days",
    "at least 3 downloads and at most 2 downloads",
    "clicked any email and not clicked any email",
    "(employees > 500 or employees < 10) and employees = 100",
    "(employees > 500 or (employees < 10 and employees > 20)) and employees < 0",
    'not (stage is "lead") and stage = "lead"',
    "not (industry is known or industry is unknown)",
    'seniority is executive and title is "Manager"',
    "big and employees < 10",
    "interest > 120",
    "renewal_date within 30 days and renewal_date more than 60 days ago",
    "renewal_date is unknown and renewal_date within 90 days",
    'title contains "部長" and title is "社長"',
    'industry is trading and industry is "retail"',  # a bare word: text or constant, never both
    "consent is true and consent is false",
])
def test_never_true(text: str) -> None:
    assert never(text), text


@pytest.mark.parametrize("text", [
    "employees > 100 and employees < 500",
    "employees > 3 and employees < 4",  # 3.5 employees: numbers are not assumed whole
    'stage is "lead" or stage is "mql"',
    'stage is "lead" and not (stage is "mql")',
    "industry is unknown and not (industry is \"x\")",
    "size is midsize and employees < 200",
    "seniority is staff and employees < 10",
    'stage is not "customer"',
    "no page views in last 30 days and at least 1 page view in last 60 days",
    "no page views and at least 1 page view on \"/pricing*\"",
    "at least 3 downloads and at most 3 downloads",
    "interest > 99",
    "goal and not goal",  # goal is opaque
    'title contains "部長" and title is "営業部長"',
    'title matches "ceo*" and title is "CEO Office"',
    "renewal_date within 90 days and renewal_date less than 10 days ago",
    "employees > 5 and industry < 3",
    "x = y and x != y",  # two attributes: not modelled, says nothing
    'industry is trading and industry is "trading"',
    "industry is trading and industry is not trading",  # (a constant may be unlike any text)
])
def test_may_be_true(text: str) -> None:
    assert not never(text), text


def test_always_true_and_reasons() -> None:
    cond, r = parse_condition("at least 0 page views")
    assert r.always_true(cond) is not None
    cond, r = parse_condition('stage is "custmer"')
    conflict = r.never_true(cond)
    assert conflict is not None
    assert conflict.hint() == 'did you mean `"customer"`?'
    assert "declared as one of" in conflict.note()
    cond, r = parse_condition("big and employees < 10")
    conflict = r.never_true(cond)
    assert conflict is not None and "(segment `big`)" in conflict.note()


def test_cyclic_and_deep_segments_do_not_hang() -> None:
    defs = "segment a: b and employees > 1\nsegment b: a or employees < 0\n"
    cond, r = parse_condition("a and b", defs)
    r.never_true(cond)
    chain = "".join(f"segment s{i}: s{i + 1} or s{i + 1}\n" for i in range(30))
    chain += "segment s30: x > 1\n"
    cond, r = parse_condition("s0 and x < 0", chain)
    assert r.never_true(cond) is None  # too large to expand: no claim


def test_show_round_trips_through_the_parser() -> None:
    for text in ['stage is "a" and (x > 1 or not (y in (1, "b")))', "no page views in last 30 days",
                 'last email click more than 60 days ago', 'renewal_date within 90 days',
                 'at least 5 page views on "/x*" where url matches "a*" in last 90 days']:
        cond, _ = parse_condition(text, "")
        again, _ = parse_condition(show(cond), "")
        assert again == cond, show(cond)


# ---------------------------------------------------------------- soundness

EMPLOYEES = [None, -1, 0, 1, 2, 3, 3.5, 4, 5, 99, 100, 101, 499, 500, 501, 1000]
STAGES = [None, "lead", "mql", "customer", "Lead", "zzz"]
ATOMS = st.one_of(
    st.builds(lambda op, v: f"employees {op} {v}", st.sampled_from(["=", "!=", "<", "<=", ">",
                                                                    ">="]),
              st.sampled_from([0, 1, 3, 5, 100, 500])),
    st.builds(lambda v: f'stage is "{v}"', st.sampled_from(["lead", "mql", "zzz"])),
    st.builds(lambda v: f'stage is not "{v}"', st.sampled_from(["lead", "mql"])),
    st.builds(lambda vs: f"stage in ({', '.join(chr(34) + v + chr(34) for v in vs)})",
              st.lists(st.sampled_from(["lead", "mql", "customer"]), min_size=1, max_size=2)),
    st.builds(lambda vs: f"employees not in ({', '.join(map(str, vs))})",
              st.lists(st.sampled_from([0, 3, 500]), min_size=1, max_size=2)),
    st.sampled_from(["employees is known", "employees is unknown", "stage is known",
                     "stage is unknown", 'stage starts with "l"', 'stage contains "e"']),
)


def conditions(depth: int = 3) -> st.SearchStrategy[str]:
    return st.recursive(ATOMS, lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner)), max_leaves=6)


def evaluate(c: A.Condition, lead: dict[str, object]) -> bool:
    """A reference evaluator for the atoms above: two-valued, unknown compares false."""
    if isinstance(c, A.And):
        return all(evaluate(i, lead) for i in c.items)
    if isinstance(c, A.Or):
        return any(evaluate(i, lead) for i in c.items)
    if isinstance(c, A.Not):
        return not evaluate(c.item, lead)
    assert isinstance(c, A.Compare | A.InList | A.Known | A.TextMatch)
    assert isinstance(c.left, A.Name)
    v = lead[c.left.name]
    if isinstance(c, A.Known):
        return (v is not None) == c.known
    if v is None:
        return False
    if isinstance(c, A.InList):
        return (v in [x.value for x in c.values if isinstance(x, A.Str | A.Num)]) != c.negated
    if isinstance(c, A.TextMatch):
        p = c.pattern.value
        return isinstance(v, str) and (p in v if c.op == "contains" else v.startswith(p))
    assert isinstance(c.right, A.Str | A.Num)
    r = c.right.value
    if type(r) is str or type(v) is str:
        return (v == r) == (c.op in ("=", "is"))
    ops = {"=": v == r, "is": v == r, "!=": v != r, "is not": v != r, "<": v < r,  # type: ignore
           "<=": v <= r, ">": v > r, ">=": v >= r}  # type: ignore[operator]
    return bool(ops[c.op])


@settings(max_examples=300, deadline=None)
@given(conditions())
def test_never_true_is_sound(text: str) -> None:
    cond, r = parse_condition(text)
    leads = [{"employees": e, "stage": s} for e, s in itertools.product(EMPLOYEES, STAGES)
             if s in (None, "lead", "mql", "customer")]  # the declared stages only
    if r.never_true(cond) is not None:
        assert not any(evaluate(cond, lead) for lead in leads), text
    if r.always_true(cond) is not None:
        assert all(evaluate(cond, lead) for lead in leads), text

"""Hypothesis strategies for random, well-typed conditions over tests/engine/conditions_data's
definitions: every condition form, every kind of value, unknowns, windows, shifts, nesting."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from dsl import ast as A
from tests.engine.conditions_data import TEXTS, URLS

NUMBERS = ["employees", "seats", "interest", "plain"]
TEXT_ATTRS = ["stage", "title", "industry", "plan"]
DATES = ["renewal_date", "created_at"]
BOOLS = ["consent", "vip"]
TIERS = {"size": ["tiny", "smb", "midsize", "enterprise"],
         "seniority": ["executive", "manager", "staff"]}
ORDER = ["<", "<=", ">", ">="]
EQUAL = ["=", "!=", "is", "is not"]
PATTERNS = ["*", "", "%", "%%%%", "____", "_", "*pricing*", "/pricing*", "*部長*", "CEO*",
            "ceo*", "*x%_*", "a*b*c", "*" * 40, "' OR 1=1 --", "; DROP TABLE leads", "x/y",
            "*/*", "lead", "LEAD", "ä*", "wp-*"]
UNITS = ["day", "day", "week", "month", "hour", "year"]

# Event phrases and the filters that make sense for each (anything else the checker rejects).
PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("page", "views"): ("on", "where"), ("email", "clicks"): ("on", "where"),
    ("activity",): ("on", "where"), ("downloads",): ("where",), ("email", "opens"): ("where",),
    ("seminars",): ("where",), ("exhibitions",): ("where",), ("form", "submissions"): ("where",),
    ("stage", "changes"): ("to", "from", "where"), ("sales", "calls"): ("where",),
    ("emails", "sent"): ("where",),
}
PROPS = ["url", "link", "template", "flow", "step", "campaign", "asset", "name", "form", "from",
         "to"]
PROP_VALUES = [*URLS, "a", "A", "intro", "nurture", "wp-1", "contact", "mql", "lead",
               "' OR 1=1 --", "JITW-2024*"]



def name(n: str) -> A.Name:
    return A.Name(n)


durations = st.builds(A.Duration, st.integers(0, 90), st.sampled_from(UNITS))
day_durations = st.builds(A.Duration, st.integers(0, 120), st.sampled_from(["day", "week",
                                                                            "month", "hour"]))
# Windows and recency often exactly as long as an event's age (conditions_data.BOUNDARIES).
COMMON = [A.Duration(n, u) for n, u in ((1, "day"), (5, "day"), (7, "day"), (1, "week"),
                                        (10, "day"), (30, "day"), (1, "month"), (60, "day"),
                                        (1, "hour"), (0, "day"))]
durations = st.sampled_from(COMMON) | durations
day_durations = st.sampled_from(COMMON) | day_durations
windows = st.none() | durations

date_names = st.sampled_from(DATES).map(name)
dates = (date_names | st.builds(A.Shift, date_names, st.sampled_from("+-"), day_durations))
date_constants = (st.just(A.Today())
                  | st.builds(A.Shift, st.just(A.Today()), st.sampled_from("+-"), day_durations)
                  | st.sampled_from(["2026-11-23", "2026-08-01", "2027-01-31"]).map(A.Str))



def text_operand() -> st.SearchStrategy[Any]:
    return st.builds(A.Str, st.sampled_from(TEXTS))


numbers = st.builds(A.Num, st.sampled_from([-5, 0, 1, 2, 5, 12.5, 30, 40.5, 99, 100, 500]))
compares = st.one_of(
    st.builds(A.Compare, st.sampled_from(NUMBERS).map(name), st.sampled_from(ORDER + EQUAL),
              numbers | st.sampled_from(NUMBERS).map(name)),
    st.builds(A.Compare, st.sampled_from(TEXT_ATTRS).map(name), st.sampled_from(EQUAL),
              text_operand() | st.sampled_from(TEXT_ATTRS).map(name)),
    st.builds(A.Compare, st.sampled_from(BOOLS).map(name), st.sampled_from(EQUAL),
              st.sampled_from(["true", "false"]).map(name)),
    st.builds(A.Compare, dates, st.sampled_from(ORDER + EQUAL), date_constants | dates),
    st.sampled_from(sorted(TIERS)).flatmap(lambda t: st.builds(
        A.Compare, st.just(name(t)), st.sampled_from(["is", "is not"]),
        st.sampled_from(TIERS[t]).map(name))),
)
in_lists = st.one_of(
    st.builds(A.InList, st.sampled_from(TEXT_ATTRS).map(name),
              st.lists(text_operand(), min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(A.InList, st.sampled_from(NUMBERS).map(name),
              st.lists(numbers, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.sampled_from(sorted(TIERS)).flatmap(lambda t: st.builds(
        A.InList, st.just(name(t)), st.lists(st.sampled_from(TIERS[t]).map(name), min_size=1,
                                             max_size=2).map(tuple), st.booleans())),
)
text_matches = st.builds(A.TextMatch, st.sampled_from(TEXT_ATTRS).map(name),
                         st.sampled_from(["contains", "starts with", "ends with", "matches"]),
                         st.sampled_from(PATTERNS + TEXTS).map(A.Str))
knowns = st.builds(A.Known, st.sampled_from(NUMBERS + TEXT_ATTRS + DATES + BOOLS + sorted(TIERS)
                                            ).map(name), st.booleans())
date_windows = st.builds(A.DateWindow, dates, st.sampled_from(
    ["within", "in last", "more than ago", "less than ago"]), day_durations)


@st.composite
def event_matches(draw: st.DrawFn) -> A.EventMatch:
    words = draw(st.sampled_from(sorted(PHRASES)))
    allowed = PHRASES[words]
    filters = []
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(allowed))
        if kind == "where":
            tests = tuple(draw(st.lists(st.builds(
                A.PropTest, st.sampled_from(PROPS), st.sampled_from(["=", "!=", "matches"]),
                st.sampled_from(PROP_VALUES + PATTERNS).map(A.Str)), min_size=1, max_size=2)))
            filters.append(A.EventFilter("where", None, tests))
        else:
            value = draw(st.sampled_from(PATTERNS + PROP_VALUES if kind == "on" else
                                         ["lead", "mql", "customer"]))
            filters.append(A.EventFilter(kind, A.Str(value)))
    return A.EventMatch(words, tuple(filters))


counts = st.one_of(
    st.builds(A.Count, st.sampled_from(["at least", "at most"]), st.integers(0, 3),
              event_matches(), windows),
    st.builds(A.Count, st.just("no"), st.just(0), event_matches(), windows),
)
dids = st.one_of(
    st.builds(A.Did, st.sampled_from(["clicked", "opened"]),
              st.none() | st.sampled_from(["intro", "followup"]).map(name), windows),
    st.builds(A.Did, st.sampled_from(["visited", "downloaded", "submitted", "attended"]),
              st.sampled_from(PATTERNS + PROP_VALUES).map(A.Str), windows),
)
lasts = st.builds(A.LastEvent, event_matches(), st.booleans(), durations)
refs = st.sampled_from([A.SegmentRef("engaged"), A.GoalRef()])

atoms = st.one_of(compares, in_lists, text_matches, knowns, date_windows, counts, dids, lasts,
                  refs)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(A.Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: A.And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: A.Or(tuple(xs))),
    ),
    max_leaves=6,
)

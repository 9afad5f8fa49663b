"""Hypothesis strategies for random *valid* syntax trees: every definition, condition and step.

"Valid" means the grammar can express it, not that the checker would accept it: names are free,
numbers are what ``INT``/``DECIMAL``/points can hold, durations use known or unknown units. The
formatter's property tests print these trees and parse them back, so every node kind the parser
can build must be reachable from ``modules()``.

Names come from a pool that avoids every keyword of the grammar: the contextual lexer reads a
word that is a keyword acceptable at that spot as the keyword, so ``segment goal: ...`` can
never mean a segment called ``goal``.
"""

from __future__ import annotations

from typing import TypeVar

from hypothesis import strategies as st

from dsl import ast as A
from dsl.parser import lark_parser
from dsl.transform import UNITS

T = TypeVar("T")

KEYWORDS = frozenset(t.pattern.value for t in lark_parser().terminals if t.pattern.type == "str")
CMP = ("=", "!=", "<", "<=", ">", ">=")
PATH = "gen.flow"

names = (st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n not in KEYWORDS and n.lower() not in UNITS)
    | st.sampled_from(["大企業", "リード", "été", "Stage_2", "x"]))
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
                | st.sampled_from('"\\#\n\t('), max_size=10)
times = st.from_regex(r"[0-9]{1,2}:[0-9]{2}", fullmatch=True)
small = st.integers(0, 10_000)
decimals = st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
numbers: st.SearchStrategy[int | float] = st.integers(0, 10**9) | decimals
signed: st.SearchStrategy[int | float] = (st.integers(-(10**6), 10**6)
                                          | st.floats(-1e6, 1e6, allow_nan=False,
                                                      allow_infinity=False))


def maybe(s: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | s


def tuples(s: st.SearchStrategy[T], lo: int = 1, hi: int = 3) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(s, min_size=lo, max_size=hi).map(tuple)


durations = st.builds(A.Duration, small, st.sampled_from(sorted(set(UNITS.values()))) | names)
windows = maybe(durations)
strs = st.builds(A.Str, texts)
operands = st.recursive(
    strs | st.builds(A.Num, numbers) | st.builds(A.Name, names) | st.just(A.Today()),
    lambda inner: st.builds(A.Shift, inner, st.sampled_from("+-"), durations),
    max_leaves=3,
)

prop_tests = (st.builds(A.PropTest, names, st.sampled_from(CMP), operands)
              | st.builds(A.PropTest, names, st.just("matches"), strs))
event_filters = (st.builds(A.EventFilter, st.sampled_from(["on", "to", "from"]), strs)
                 | st.builds(A.EventFilter, st.just("where"), st.none(), tuples(prop_tests, 1, 2)))
events = st.builds(A.EventMatch, tuples(names), tuples(event_filters, 0, 2))

behaviours = st.one_of(
    st.builds(A.Count, st.sampled_from(["at least", "at most"]), small, events, windows),
    st.builds(A.Count, st.just("no"), st.just(0), events, windows),
    st.builds(A.Did, st.sampled_from(["clicked", "opened"]), maybe(st.builds(A.Name, names)),
              windows),
    st.builds(A.Did, st.sampled_from(["visited", "downloaded", "submitted", "attended"]), strs,
              windows),
    st.builds(A.LastEvent, events, st.booleans(), durations),
)
atoms = st.one_of(
    st.builds(A.Compare, operands, st.sampled_from([*CMP, "is", "is not"]), operands),
    st.builds(A.InList, operands, tuples(operands), st.booleans()),
    st.builds(A.TextMatch, operands,
              st.sampled_from(["contains", "starts with", "ends with", "matches"]), strs),
    st.builds(A.Known, operands, st.booleans()),
    st.builds(A.DateWindow, operands,
              st.sampled_from(["within", "in last", "more than ago", "less than ago"]), durations),
    behaviours,
    st.builds(A.SegmentRef, names),
    st.just(A.GoalRef()),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(st.builds(A.And, tuples(inner, 2, 3)),
                            st.builds(A.Or, tuples(inner, 2, 3)), st.builds(A.Not, inner)),
    max_leaves=6,
)

# ------------------------------------------------------------------ steps

senders = maybe(st.builds(A.Sender, st.just(True), maybe(texts))
                | st.builds(A.Sender, st.just(False), texts))
simple_steps = st.one_of(
    st.builds(A.Send, maybe(names), tuples(texts, 1, 1), st.just(False), senders),
    st.builds(A.Send, maybe(names), tuples(texts), st.just(True), senders),
    st.builds(A.WaitFor, durations),
    st.builds(A.WaitUntil, operands),
    st.builds(A.WaitEvent, behaviours, durations),
    st.builds(A.SetAttr, names, operands),
    st.builds(A.TagStep, st.booleans(), texts),
    st.builds(A.Notify, st.just(True), maybe(names), texts),
    st.builds(A.Notify, st.just(False), names, texts),
    st.builds(A.Handoff, names, maybe(names), maybe(small)),
    st.builds(A.ExitStep, maybe(texts)),
)


def _compound(inner: st.SearchStrategy[A.Step]) -> st.SearchStrategy[A.Step]:
    block = tuples(inner)
    return st.one_of(
        st.builds(A.If, tuples(st.builds(A.Branch, conditions, block)), maybe(block)),
        st.builds(A.Split, names, tuples(st.builds(A.SplitBranch, names, numbers, maybe(block)))),
        st.builds(A.Repeat, durations, maybe(conditions), maybe(small), block),
    )


steps = st.recursive(simple_steps, _compound, max_leaves=5)
blocks = tuples(steps)

schedules = st.one_of(
    st.builds(A.Schedule, st.just("every"), days=tuples(names), times=tuples(times, 0, 2),
              zone=maybe(texts)),
    st.builds(A.Schedule, st.just("interval"), interval=durations, zone=maybe(texts)),
    st.builds(A.Schedule, st.just("cron"), cron=texts, zone=maybe(texts)),
)
flow_items = st.one_of(
    schedules,
    st.builds(A.EnterWhen, conditions),
    st.builds(A.EnterOn, events, maybe(conditions)),
    st.builds(A.ExitWhen, conditions),
    st.builds(A.GoalWhen, conditions),
    st.builds(A.ReEnter, maybe(durations)),
    st.builds(A.FlowPriority, small),
    st.builds(A.MoveStep, texts, names, st.none()),
    st.builds(A.MoveStep, texts, st.none(), maybe(texts)),
    st.builds(A.OnGoal, blocks),
    steps,
)


flows = st.builds(A.Flow, names, maybe(texts), tuples(flow_items, 1, 5))

# ------------------------------------------------------------------ definitions

tier_rules = st.one_of(
    st.builds(A.TierRule, st.just("between"), numbers, numbers),
    st.builds(A.TierRule, st.just("at least"), numbers),
    st.builds(A.TierRule, st.just("below"), high=numbers),
    st.builds(A.TierRule, st.sampled_from(["matches", "in"]), texts=tuples(texts)),
    st.builds(A.TierRule, st.just("otherwise")),
)
score_lines = st.one_of(
    st.builds(A.EventPoints, signed, events, windows),
    st.builds(A.WhenPoints, signed, conditions),
    st.builds(A.ScoreOption, st.sampled_from(["half-life", "window"]), duration=durations),
    st.builds(A.ScoreOption, st.just("cap"), value=numbers),
)
policy_lines = st.one_of(
    st.builds(A.CapRule, small, names, durations),
    st.builds(A.SendHours, times, times, tuples(names, 0, 2), st.booleans(), maybe(texts)),
    st.builds(A.NeverEmail, conditions),
    st.builds(A.PolicyFlag, st.sampled_from(["require consent", "skip public holidays"])),
)
merge_rules = st.one_of(
    st.builds(A.MergeRule, tuples(names), tuples(names), st.booleans(), st.booleans()),
    st.builds(A.MergeRule, tuples(names), st.just(()), st.just(False), st.booleans()),
)
definitions = st.one_of(
    st.builds(A.Attributes, tuples(st.builds(A.AttributeDecl, names, names,
                                             maybe(tuples(operands))))),
    st.builds(A.Events, tuples(st.builds(A.EventDecl, tuples(names)))),
    st.builds(A.Tier, names, names, tuples(st.builds(A.TierEntry, names, tier_rules))),
    st.builds(A.Score, names, tuples(score_lines, 1, 4)),
    st.builds(A.Priority, names, tuples(st.builds(A.PriorityRule, small, maybe(conditions)))),
    st.builds(A.Policy, tuples(policy_lines, 1, 4)),
    st.builds(A.Segment, names, maybe(texts), conditions),
    st.builds(A.Team, names, maybe(texts), tuples(st.builds(
        A.TeamChannel, st.sampled_from(["email", "webhook"]), texts), 1, 2)),
    st.builds(A.Merge, tuples(merge_rules)),
)


def modules(path: str = PATH) -> st.SearchStrategy[A.Module]:
    """A whole file: one to four items, definitions and flows mixed."""
    return st.builds(A.Module, st.just(path), tuples(definitions | flows, 1, 4))

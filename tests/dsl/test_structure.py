"""Structure passes: flows and steps, shared definitions, never-true conditions, overlaps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.check import Context
from dsl.checks.logic import check_logic
from dsl.checks.overlap import check_overlap, cron_days, first_day_send, schedule_days
from dsl.checks.shared import check_shared
from dsl.checks.structure import check_structure
from dsl.diagnostics import Diagnostic
from dsl.parser import parse_source
from tests.dsl import strategies

MINE = (check_structure, check_shared, check_logic)
ENTRY = '    schedule every weekday at 09:00\n    enter when stage is "lead"\n'


def modules(*sources: str) -> list[A.Module]:
    out = []
    for k, src in enumerate(sources):
        module, diags = parse_source(f"f{k}.flow", src)
        assert module is not None and not diags, [d.message for d in diags]
        out.append(module)
    return out


def run(*sources: str, passes: tuple = MINE) -> list[Diagnostic]:
    mods = modules(*sources)
    return [d for p in passes for d in p(mods, Context())]


def codes(*sources: str, passes: tuple = MINE) -> list[tuple[str, int]]:
    return sorted((d.code, d.span.line) for d in run(*sources, passes=passes))


def flow(body: str, head: str = ENTRY) -> str:
    return "flow f:\n" + head + "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))


# ---------------------------------------------------------------- flows


def test_a_clean_flow_has_no_findings() -> None:
    assert codes(flow('send "a.html"\nwait 2 days\nif clicked a:\n    exit\nsend "b.html"')) == []


def test_entry_settings_and_steps() -> None:
    assert codes("flow f:\n    schedule every day\n    send \"a.html\"\n") == [("E0404", 1)]
    twice = ("    goal when x > 1\n    goal when x > 2\n"
             "    re-enter never\n    re-enter after 9 days\n")
    assert codes(flow('send "a.html"', head=ENTRY + twice)) == [("E0405", 5), ("E0405", 7)]
    assert codes("flow f:\n" + ENTRY) == [("E0406", 1)]


def test_unreachable_steps() -> None:
    assert codes(flow('send "a.html"\nexit\nsend "b.html"\nsend "c.html"')) == [("W0103", 6)]
    assert codes(flow('if x > 1:\n    exit\nelse:\n    exit\nsend "b.html"')) == [("W0103", 8)]
    assert codes(flow('if x > 1:\n    exit\nsend "b.html"')) == []  # no else: leads go on
    assert codes(flow('repeat every 7 days:\n    send "a.html"\nsend "b.html"')) == [
        ("W0103", 6)]
    ends = 'repeat every 7 days, at most 3 times:\n    send "a.html"\nsend "b.html"'
    assert codes(flow(ends)) == []
    # a repeat whose `until` can never be true never ends either (and its until is reported)
    assert codes(flow('repeat every 7 days until x > 5 and x < 1:\n    send "a.html"\n'
                      'send "b.html"')) == [("W0101", 4), ("W0103", 6)]
    # nested blocks are looked at too; each block reports its first unreachable step only
    assert codes(flow('split s:\n    a 50%:\n        exit\n        send "a.html"\n'
                      '    b 50%:\n        exit\nsend "b.html"')) == [("W0103", 7), ("W0103", 10)]


def test_split_rules() -> None:
    assert codes(flow("split s:\n    a 45%:\n        send \"a.html\"\n    b 45%")) == [("E0401", 4)]
    assert codes(flow("split s:\n    a 50%:\n        send \"a.html\"\n    a 50%")) == [("E0402", 7)]
    assert codes(flow("split s:\n    a 100%:\n        send \"a.html\"")) == [("E0403", 4)]
    assert codes(flow("split s:\n    a 33.3%:\n        send \"a.html\"\n    b 66.7%")) == []


def test_repeat_rules() -> None:
    assert codes(flow('repeat every 12 hours, at most 3 times:\n    send "a.html"')) == [
        ("E0407", 4)]
    assert codes(flow('repeat every 24 hours, at most 3 times:\n    send "a.html"')) == []
    assert codes(flow('repeat every 0 weeks, at most 3 times:\n    send "a.html"')) == []  # E0311
    assert codes(flow('repeat every 7 days, at most 3 times:\n    add tag "x"')) == [("W0104", 4)]
    assert codes(flow('repeat every 7 days, at most 3 times:\n    if x > 1:\n'
                      '        notify owner "a.txt"')) == []



def test_a_wait_on_an_event_of_the_whole_history_is_flagged() -> None:
    """W0114 where a past event ends the wait at once; not for a step of the flow, a window
    or an absence."""
    def wait(cond: str) -> list[tuple[str, int]]:
        return codes(flow(f'send intro "a.html"\nwait until {cond} or 3 days'))

    assert wait('visited "/pricing*"') == [("W0114", 5)]
    assert wait("clicked any email") == [("W0114", 5)]
    assert wait("at least 2 downloads") == [("W0114", 5)]
    assert wait("clicked intro") == []
    assert wait('visited "/pricing*" in last 1 day') == []
    assert wait("no page views in last 3 days") == []


def test_hand_offs_to_one_team_with_different_capacities_are_flagged() -> None:
    """W0115 at the odd ones out (the capacity is the team's queue's), across flows and the
    `on goal:` block; none when they agree."""
    def handoff(per_day: str) -> str:
        return f"handoff to sales{per_day}"

    a = flow(handoff(", at most 40 per day") + "\non goal:\n    " + handoff(", at most 40 per day"),
             head=ENTRY + '    goal when stage is "mql"\n')
    b = "flow g:\n" + ENTRY + "    " + handoff(", at most 5 per day") + "\n"
    assert [(d.code, d.span.file, d.span.line) for d in run(a, b)] == [("W0115", "f1.flow", 4)]
    assert codes(a, b.replace("5 per day", "40 per day")) == []
    assert codes(flow(handoff("") + "\n" + handoff(", at most 3 per day") + "\n"
                      + handoff(", at most 3 per day"))) == [("W0115", 4)]

# ---------------------------------------------------------------- shared definitions


def tier(*lines: str, source: str = "employees") -> str:
    return f"tier t from {source}:\n" + "".join(f"    {line}\n" for line in lines)


def test_tier_ranges() -> None:
    ok = ("smb 2 to 99", "mid 100 to 499", "big 500 and above")
    assert codes(tier(*ok)) == []
    assert codes(tier("tiny below 2", *ok)) == []
    assert codes(tier("smb 2 to 100", "mid 100 to 499")) == [("W0105", 3)]
    assert codes(tier("smb 2 to 99", "mid 101 to 499")) == [("W0106", 3)]
    assert codes(tier("smb 2 to 99", "mid 105 to 499", "other otherwise")) == []
    assert codes(tier("smb 2 to 99.5", "mid 100 to 499")) == [("W0106", 3)]
    assert codes(tier("mid 499 to 100", *ok[:1])) == [("E0408", 2)]
    assert codes(tier("rest otherwise", *ok)) == [("E0409", 2)]
    assert codes(tier(*ok, "a otherwise", "b otherwise")) == [("E0409", 5)]
    assert codes(tier(*ok, "smb 50 to 60")) == [("E0411", 5), ("W0105", 5)]


def test_tier_texts() -> None:
    assert codes(tier('a matches ("x*", "y*")', 'b matches ("y*")', source="title")) == [
        ("W0107", 3)]
    assert codes(tier('a in ("x", "y")', 'b in ("z")', "c otherwise", source="title")) == []
    # a text rule among ranges: reported here only when no type says which kind is right
    assert codes(tier("a 2 to 9", 'b in ("x")', source="headcount")) == [("E0410", 3)]
    assert codes(tier("a 2 to 9", 'b in ("x")')) == []  # E0308, the type checker's


def test_priorities() -> None:
    assert codes("priority p:\n    1: x > 1\n    2: otherwise\n") == []
    assert codes("priority p:\n    1: x > 1\n    3: otherwise\n") == [("E0412", 3)]
    assert codes("priority p:\n    1: otherwise\n    2: x > 1\n") == [("E0409", 2)]
    assert codes("priority p:\n    1: x > 1\n    2: x > 0\n") == [("W0108", 1)]


def test_scores() -> None:
    assert codes("score s:\n    +5 per email click\n    half-life 30 days\n") == []
    assert codes("score s:\n    half-life 30 days\n") == [("E0413", 1)]
    assert codes("score s:\n    +5 per click\n    window 9 days\n    window 9 days\n"
                 "    at most 5\n    at most 6\n") == [("E0405", 4), ("E0405", 6)]
    assert codes("score s:\n    +5 per click\n    half-life 2 months\n    window 30 days\n") == [
        ("W0109", 3)]
    assert codes("score s:\n    +5 per click\n    half-life 1 month\n    window 30 days\n") == []


def test_merge() -> None:
    assert codes("merge:\n    stage, owner: prefer crm over web then newest\n"
                 "    title: newest wins\n") == []
    diags = run("merge:\n    stage, owner: prefer crm over web over crm\n    owner: newest wins\n")
    assert sorted((d.code, d.span.line, d.span.column) for d in diags) == [
        ("E0414", 3, 5), ("E0415", 2, 44)]


# ---------------------------------------------------------------- conditions


def test_never_true_is_reported_once_at_the_right_node() -> None:
    src = flow('if clicked a or (x > 5 and x < 1):\n    send "b.html"',
               head=ENTRY + '    exit when stage is "x" and stage is "y"\n')
    diags = sorted(run(src), key=lambda d: d.span.line)
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [
        ("W0101", 4, 15), ("W0101", 5, 22)]
    assert codes("segment s: x > 1 and x < 0\nsegment t: s and y > 1\n") == [("W0101", 1)]
    assert codes("segment s: not (at least 0 clicks)\n") == [("W0102", 1)]


def test_enter_implies_exit() -> None:
    head = ENTRY.replace('stage is "lead"', 'stage is "lead" and employees > 10')
    assert codes(flow('send "a.html"', head + '    exit when stage in ("lead", "mql")\n')) == [
        ("W0110", 4)]
    assert codes(flow('send "a.html"', head + '    exit when employees > 100\n')) == []


# ---------------------------------------------------------------- overlapping flows


def test_first_day_sends() -> None:
    def steps(body: str) -> tuple[A.Step, ...]:
        f = modules(flow(body))[0].items[0]
        assert isinstance(f, A.Flow)
        return f.steps

    assert first_day_send(steps('add tag "x"\nsend "a.html"'))[0] is not None
    assert first_day_send(steps('wait 1 day\nsend "a.html"'))[0] is None
    assert first_day_send(steps('if x > 1:\n    wait 1 day\nsend "a.html"'))[0] is not None
    assert first_day_send(steps('if x > 1:\n    exit\nelse:\n    exit\nsend "a.html"'))[0] is None
    assert first_day_send(steps('split s:\n    a 50%\n    b 50%:\n        send "a.html"'))[0]
    assert first_day_send(steps('repeat every 9 days:\n    send "a.html"'))[0] is not None


def test_schedules() -> None:
    f = modules(flow('send "a.html"', "    schedule every tuesday, thursday at 09:00\n"))[0]
    flow_ = f.items[0]
    assert isinstance(flow_, A.Flow)
    assert schedule_days(flow_)[0] == {1, 3}
    assert cron_days("30 9 * * 1-5") == {0, 1, 2, 3, 4}
    assert cron_days("0 9 * * SAT,0") == {5, 6}
    assert cron_days("0 9 1 * 1") == set(range(7))


def overlap_codes(*sources: str) -> list[tuple[str, str, int]]:
    mods = modules(*sources)
    return [(d.code, d.span.file, d.span.line) for d in check_overlap(mods, Context())]


def test_overlapping_flows() -> None:
    a = flow('send "a.html"').replace("flow f:", "flow a:")
    b = flow('send "b.html"').replace("flow f:", "flow b:")
    assert overlap_codes(a, b) == [("W0111", "f1.flow", 1)]
    # exclusive entries, a first-day wait, or weekdays against weekends: no warning
    assert overlap_codes(a, b.replace('"lead"', '"mql"')) == []
    assert overlap_codes(a, b.replace('send "b.html"', 'wait 1 day\n    send "b.html"')) == []
    assert overlap_codes(a, b.replace("every weekday", "every weekend")) == []
    paris = b.replace("weekday at 09:00", 'weekend at 09:00 "Europe/Paris"')
    assert overlap_codes(a, paris) != []  # time zones apart: days overlap at the edges
    # event entries: one lead can do both things
    ev = 'flow e:\n    enter on form submit\n    send "c.html"\n'
    assert overlap_codes(a, ev) == [("W0111", "f1.flow", 1)]
    diag = run(a, b, "policy:\n    at most 1 emails per lead per 1 day\n",
               passes=(check_overlap,))[0]
    assert "will defer one of them" in diag.notes[-1]


def _brute_near(hulls: list[tuple[float, float] | None]) -> list[list[int]]:
    def apart(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
        return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])
    return [[j for j in range(k) if not apart(hulls[j], hulls[k])] for k in range(len(hulls))]


bounds = st.sampled_from([float("-inf"), -5.0, 0.0, 0.5, 1.0, 2.0, 10.0, 10.5, float("inf")])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.tuples(bounds, bounds).map(lambda p: (min(p), max(p))),
                max_size=25))
def test_the_sweep_finds_exactly_the_pairs_the_key_does_not_separate(
        hulls: list[tuple[float, float] | None]) -> None:
    from dsl.checks.overlap import Sender, _near

    flow = A.Flow("f", None, ())
    send = A.Send(None, ("a.html",))
    senders = [Sender(flow, send, [], frozenset(), frozenset(), key_hull=h) for h in hulls]
    assert _near(senders) == _brute_near(hulls)


def test_many_banded_flows_are_compared_with_their_neighbours_only() -> None:
    """A thousand flows each owning a band of one attribute (the benchmark's shape): each is
    compared with the one or two whose bands touch its own, not with every earlier flow."""
    from dsl.checks.overlap import Sender, _near

    flow = A.Flow("f", None, ())
    send = A.Send(None, ("a.html",))
    senders = [Sender(flow, send, [], frozenset(), frozenset(), key_hull=(10.0 * i, 10.0 * i + 10))
               for i in range(1000)]
    near = _near(senders)
    assert near[0] == [] and all(near[k] == [k - 1] for k in range(1, 1000))


# ---------------------------------------------------------------- robustness


def test_kitchen_sink_gets_no_errors() -> None:
    path = Path(__file__).parent.parent / "cases" / "parse" / "kitchen_sink.flow"
    assert not [d for d in run(path.read_text(encoding="utf-8")) if d.is_error]


WORDS = st.sampled_from([
    'send "a.html"', "exit", "wait 2 days", 'add tag "t"', "if x > 1:", "else:", "split s:",
    "a 50%:", "b 0%", "repeat every 1 hour:", "repeat every 2 days until x > 3 and x < 1:",
    'notify owner "a.txt"', "wait until clicked a or 2 days", "set x to 9999999999999999999999",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), WORDS), min_size=1, max_size=12))
def test_passes_never_raise(lines: list[tuple[int, str]]) -> None:
    body = "".join("    " * (1 + depth) + text + "\n" for depth, text in lines)
    module, _ = parse_source("r.flow", "flow r:\n" + ENTRY + body)
    if module is None:
        return
    for p in (*MINE, check_overlap):
        p([module], Context())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(strategies.modules(), min_size=1, max_size=3))
def test_passes_never_raise_on_any_tree(trees: list[A.Module]) -> None:
    for p in (*MINE, check_overlap):
        for d in p(trees, Context()):
            assert d.code[:3] in ("E04", "W01") and d.message and "\n" not in d.message


@pytest.mark.parametrize("src", [
    "tier t from x:\n    a 1 to 99999999999999999999999999999999\n    b otherwise\n",
    "score s:\n    +5 per click\n    half-life 99999999999999999999999999 days\n    window 1 day\n",
    flow('repeat every 99999999999999999999999 minutes:\n    send "a.html"'),
    "segment s: at least 99999999999999999999999 clicks and no clicks\n",
])
def test_huge_numbers(src: str) -> None:
    run(src)

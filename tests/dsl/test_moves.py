"""`move` lines for live flows: parsing, the checks (E0224, E0225, W0112), and the labels they
rest on, which must be the runtime's own (engine.runtime.program runs the flows)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from dsl import ast as A
from dsl.check import Context, check_modules
from dsl.checks.moves import check_moves
from dsl.formatter import format_source
from dsl.labels import labels
from dsl.parser import parse_source
from engine.runtime.program import compile_flow
from tests.dsl import strategies as S
from tests.golden import CASES

ROOT = CASES.parent.parent

HEAD = """\
flow revive:
    schedule every weekday at 09:30 "Asia/Tokyo"
    enter when stage is "customer"
"""


def flow_of(body: str) -> A.Flow:
    module, diags = parse_source("m.flow", HEAD + textwrap.indent(textwrap.dedent(body), "    "))
    assert module is not None, diags
    flow = module.items[0]
    assert isinstance(flow, A.Flow)
    return flow


def move_codes(body: str) -> list[tuple[str, int]]:
    module, diags = parse_source("m.flow", HEAD + textwrap.indent(textwrap.dedent(body), "    "))
    assert module is not None, diags
    return [(d.code, d.span.line) for d in check_moves([module], Context())]


def test_the_two_forms_parse() -> None:
    flow = flow_of("""\
        move "intro+1" to checkin
        move "offer" to exit "the offer was withdrawn"
        move "intro+2/else+1" to exit
        send intro "a.html"
        send checkin "b.html"
    """)
    assert flow.settings(A.MoveStep) == [
        A.MoveStep("intro+1", "checkin"),
        A.MoveStep("offer", None, "the offer was withdrawn"),
        A.MoveStep("intro+2/else+1", None, None),
    ]
    assert all(not isinstance(s, A.MoveStep) for s in flow.steps)


def test_move_is_a_keyword_only_where_a_flow_line_starts() -> None:
    module, diags = parse_source("k.flow", 'attributes:\n    move: text\n\n'
                                 'segment s: move is "x"\n')
    assert module is not None and not diags


@pytest.mark.parametrize("line,code", [
    ("move intro+1 to checkin", "E0125"),    # the old label is a text
    ("move 'intro+1' to checkin", "E0125"),  # in double quotes
    ('move "x" checkin', "E0114"),           # `to` is needed
    ('move "x" to "checkin"', "E0114"),      # the target is a name
    ('move "x" to exit reason', "E0114"),    # the reason is a text
    ('move "x" to checkin "why"', "E0114"),  # a reason only when they leave
])
def test_malformed_moves_are_syntax_errors(line: str, code: str) -> None:
    module, diags = parse_source("s.flow", HEAD + f"    {line}\n    send checkin \"a.html\"\n")
    assert module is None and [d.code for d in diags] == [code]
    assert diags[0].span.line == 4


def test_move_stays_a_word_elsewhere() -> None:
    """Only `move` before a quoted label starts a `move` line: a split branch, a step or an
    attribute may still be called `move`, and a misspelt step is reported as before."""
    module, diags = parse_source("w.flow", HEAD + '    send move "a.html"\n    split s:\n'
                                 '        move 50%\n        stay 50%\n    if clicked move:\n'
                                 '        exit\n')
    assert module is not None and not diags
    _, diags = parse_source("w.flow", HEAD + "    wiat 3 days\n")
    assert "`move`" not in diags[0].message


def test_formatting_is_canonical_and_round_trips() -> None:
    text = HEAD + ('    move   "a+1"   to   b\n    move "c"  to exit   "gone"\n'
                   '    move "d" to  exit\n    send b "x.html"\n')
    out, diags = format_source("f.flow", text)
    assert out is not None and not diags
    assert '    move "a+1" to b\n    move "c" to exit "gone"\n    move "d" to exit\n' in out
    assert parse_source("f.flow", out)[0] == parse_source("f.flow", text)[0]
    assert format_source("f.flow", out)[0] == out


def test_target_must_be_a_named_step() -> None:
    assert move_codes("""\
        move "intro+5" to checkin
        move "a" to split_b
        move "b" to case_study
        move "c" to chekin
        send intro "a.html"
        wait 3 days
        send checkin "b.html"
        send "dormant/case_study.html"
        split split_b:
            x 50%
            y 50%
    """) == [("E0224", 7)]


def test_unknown_target_hints() -> None:
    module, _ = parse_source("m.flow", HEAD + '    move "x" to chekin\n    move "y" to zzz\n'
                             '    send checkin "a.html"\n    send intro "b.html"\n')
    assert module is not None
    diags = check_moves([module], Context())
    assert [d.code for d in diags] == ["E0224", "E0224"]
    assert diags[0].hint == "did you mean `checkin`?"
    assert "checkin, intro" in (diags[1].hint or "")
    module, _ = parse_source("m.flow", HEAD + '    move "x" to zzz\n    wait 3 days\n')
    assert module is not None
    hint = check_moves([module], Context())[0].hint or ""
    assert "name the step" in hint and "to exit" in hint


def test_a_label_moved_twice_is_an_error_once() -> None:
    assert move_codes("""\
        move "old" to checkin
        move "other" to exit
        move "old" to exit
        move "old" to checkin
        send checkin "b.html"
    """) == [("E0225", 6), ("E0225", 7)]


def test_a_move_from_a_label_that_still_exists_never_applies() -> None:
    assert move_codes("""\
        move "checkin" to intro
        move "intro+1" to exit
        move "intro+2" to exit
        move "intro+3/if+1" to exit
        move "intro+3/else+1" to exit
        move "start+1" to exit
        move "intro+4" to checkin
        move "checkin+1" to intro
        send intro "a.html"
        wait 3 days
        wait 4 days
        if clicked intro:
            add tag "x"
        send checkin "b.html"
    """) == [("W0112", 4), ("W0112", 5), ("W0112", 6), ("W0112", 7), ("W0112", 11)]


def test_moves_are_checked_with_the_rest() -> None:
    module, _ = parse_source("m.flow", HEAD + '    move "x" to nowhere\n    send a "a.html"\n')
    assert module is not None
    assert "E0224" in {d.code for d in check_modules([module])}


# ---------------------------------------------------------------- labels = the runtime's


def runtime_labels(flow: A.Flow) -> set[str]:
    return set(compile_flow(flow).labels)


def repository_flows() -> list[A.Flow]:
    found = []
    for path in [*sorted((ROOT / "flows").glob("*.flow")), *sorted(CASES.rglob("*.flow"))]:
        module, _ = parse_source(str(path), path.read_text(encoding="utf-8"))
        if module is not None:
            found += [i for i in module.items if isinstance(i, A.Flow)]
    return found


def test_labels_of_every_repository_flow_are_the_runtimes() -> None:
    flows = repository_flows()
    assert len(flows) > 20
    for flow in flows:
        if flow.steps:
            assert labels(flow) == runtime_labels(flow), flow.name


def test_labels_of_nested_blocks() -> None:
    flow = flow_of("""\
        send intro "a.html"
        wait 3 days
        if clicked intro:
            wait 1 day
        else if x > 1:
            add tag "x"
        else:
            send checkin "c.html"
            wait 2 days
        repeat every 30 days, at most 3 times:
            send next of ("m1.html", "m2.html")
        split offer:
            a 50%:
                add tag "a"
            b 50%
        on goal:
            notify owner "g.txt"
    """)
    assert labels(flow) == runtime_labels(flow) == {
        "intro", "intro+1", "intro+2", "intro+2/if+1", "intro+2/elif1+1", "checkin",
        "checkin+1", "intro+3", "m1", "intro+3/repeat_end", "offer", "offer/a+1", "offer+1",
        "goal+1", "goal+2"}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(S.flows)
def test_labels_of_generated_flows_are_the_runtimes(flow: A.Flow) -> None:
    if flow.steps:
        assert labels(flow) == runtime_labels(flow)


def test_the_reference_example_warns_as_it_says() -> None:
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    part = doc.split("### Editing a live flow: move", 1)[1].split("## Steps", 1)[0]
    blocks = [b.split("```", 1)[0] for b in part.split("```flow")[1:]]
    first, second = (b.removeprefix(" check").lstrip("\n") for b in blocks[:2])
    assert move_codes_of(first) == []
    assert move_codes_of(second) == ["W0112"]


def move_codes_of(text: str) -> list[str]:
    module, diags = parse_source("doc.flow", text)
    assert module is not None, diags
    return [d.code for d in check_moves([module], Context())]


def test_golden_cases_exist() -> None:
    for name in ("e0224_move_to_unknown_step", "e0225_label_moved_twice",
                 "w0112_move_never_applies"):
        assert Path(CASES / "check" / f"{name}.out").exists()

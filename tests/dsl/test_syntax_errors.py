"""The translation of raw parse errors: tailored examples stay matched, and no message ever
leaks the parser's internals, whatever the input (hypothesis; RELIABILITY T-Q4)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from dsl.parser import lark_parser, parse_source
from dsl.syntax import EXAMPLES, LABELS, match_example

LEAKS = re.compile(r"__ANON|_NL|_INDENT|_DEDENT|Token\(|\$END|Traceback|RULE|Tree\(")


@pytest.mark.parametrize("label,snippet", [(lbl, s) for lbl, ss in EXAMPLES.items() for s in ss])
def test_every_example_still_maps_to_its_label(label: str, snippet: str) -> None:
    try:
        lark_parser().parse(snippet)
    except UnexpectedInput as exc:
        assert match_example(exc) == label
    else:
        pytest.fail(f"example for {label!r} parses now: {snippet!r}")
    _, diags = parse_source("x.flow", snippet)
    assert diags and diags[0].code == LABELS[label][0]


def assert_clean(text: str) -> None:
    module, diags = parse_source("fuzz.flow", text)
    assert module is not None or diags
    for d in diags:
        assert d.code[0] in "EW" and d.message
        assert not LEAKS.search(d.message), d.message
        assert not LEAKS.search(d.hint or ""), d.hint
        assert d.span.line >= 1


KEYWORDS = sorted({t.pattern.value for t in lark_parser().terminals if t.pattern.type == "str"})
PIECES = st.sampled_from(KEYWORDS + [
    "x", "stage", "employees", '"lead"', '"/p*"', "5", "+5", "50%", "09:30", "7 days", "\n",
    "\n    ", "\n        ", " ", "(", ")", ",", ":", "#c", '"', "'", "＝", "\t", "\\", "é", "株式",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=60).map(" ".join))
def test_fuzz_token_soup_gives_only_diagnostics(text: str) -> None:
    assert_clean(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_gives_only_diagnostics(text: str) -> None:
    assert_clean(text)


FLOW = '''flow f:
    schedule every day at 09:00 "Asia/Tokyo"
    enter when stage is "lead" and employees > 100
    send intro "demo/intro.html"
    wait 3 days
    if clicked intro:
        send followup "demo/followup.html"
'''


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(FLOW) - 1), st.integers(0, 5), st.text(max_size=4))
def test_fuzz_mutated_flow_gives_only_diagnostics(pos: int, cut: int, insert: str) -> None:
    assert_clean(FLOW[:pos] + insert + FLOW[pos + cut:])

"""The fast driver (dsl/lalr.py) against Lark: the same verdict on every text, and the same tree,
spans included, whenever both accept it.

Spans take no part in AST equality, so trees are compared through ``dump``, which spells every
field out, spans too. Texts: every flow the repository holds (examples, goldens, the benchmark's
generated flows), trees printed from hypothesis strategies, and mutations of real flows (lines
deleted, doubled, re-indented, words swapped for keywords, characters inserted), which are
mostly wrong in ways Lark has to diagnose.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import LarkError

from bench.gen_flows import SHARED, flow_text
from dsl import lalr
from dsl.comments import scan
from dsl.formatter import format_module
from dsl.parser import _chunks, fast_tables, lark_parser, parse_source
from dsl.transform import Builder, ToAst
from tests.dsl import strategies as S
from tests.golden import CASES

ROOT = CASES.parent.parent
KEYWORDS = sorted({t.pattern.value for t in lark_parser().terminals if t.pattern.type == "str"})


def dump(x: Any) -> Any:
    """A node as nested tuples, every field (the span too) included."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, *((f.name, dump(getattr(x, f.name)))
                                    for f in dataclasses.fields(x)))
    if isinstance(x, tuple | list):
        return tuple(dump(i) for i in x)
    return x


def by_lark(text: str) -> Any:
    """Lark's verdict and tree: ``("error", kind)`` or ``("ok", dump)``."""
    try:
        tree = lark_parser().parse(text)
    except LarkError as exc:
        return ("error", type(exc).__name__)
    return ("ok", dump(ToAst(Builder("t.flow")).transform(tree)))


def tables() -> lalr.Tables:
    found = fast_tables()
    assert found is not None, "the fast driver cannot mirror this Lark"
    return found


def by_fast(text: str) -> Any:
    try:
        value = lalr.parse(tables(), text, Builder("t.flow"))
    except lalr.GiveUp:
        return ("error", None)
    return ("ok", dump(value))


def pieces(text: str) -> list[str]:
    """The texts parse_source hands a parser (each top-level item, padded to its line, and
    ending with a newline), and the whole text."""
    whole = text if text.endswith("\n") else text + "\n"
    return [("\n" * (first - 1) + chunk) + "\n" for first, chunk in _chunks(text)] + [whole]


def assert_same(text: str) -> None:
    for piece in pieces(text):
        lark_says, fast_says = by_lark(piece), by_fast(piece)
        assert lark_says[0] == fast_says[0], (piece, lark_says, fast_says)
        if lark_says[0] == "ok":
            assert lark_says[1] == fast_says[1], piece


def corpus() -> list[Path]:
    found = sorted((ROOT / "flows").glob("*.flow"))
    found += sorted(p for p in CASES.rglob("*.flow"))
    return found


@pytest.mark.parametrize("path", corpus(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_flows_parse_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert_same(text)
    assert_same(text.replace("\n", "\r\n"))


def test_generated_benchmark_flows_parse_the_same() -> None:
    rng = random.Random(5)
    assert_same(SHARED)
    for i in range(20):
        assert_same(flow_text(i, rng))


def test_fast_path_parses_the_benchmark_flows_without_falling_back() -> None:
    assert tables().blanks is not None  # runs of spaces are skipped without the lexer
    rng = random.Random(7)
    for text in [SHARED, *(flow_text(i, rng) for i in range(10))]:
        for piece in pieces(text):
            assert by_fast(piece)[0] == "ok", piece


def test_deep_nesting_is_left_to_lark() -> None:
    """Past MAX_STACK the fast driver gives up, so Lark's limits (and its diagnostics) hold."""
    deep = "segment s: " + "not " * 30 + "(" * 30 + "x > 1" + ")" * 30 + "\n"
    # within every per-line limit of the preflight, but 900 `not` deep
    deeper = "segment s: (" + ("not " * 30 + "\n") * 30 + "x > 1)\n"
    assert by_fast(deep) == by_lark(deep)
    with pytest.raises(lalr.GiveUp):
        lalr.parse(tables(), deeper, Builder("t.flow"))
    module, diags = parse_source("d.flow", deeper)
    assert module is None and [d.code for d in diags] == ["E0106"]
    assert "too deeply" in diags[0].message


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(lines))
        how = rng.randrange(7)
        if how == 0:
            del lines[k]
        elif how == 1:
            lines.insert(k, lines[k])
        elif how == 2:
            lines[k] = " " * rng.choice([0, 1, 2, 4, 8]) + lines[k].lstrip()
        elif how == 3:
            words = lines[k].split(" ")
            words[rng.randrange(len(words))] = rng.choice(KEYWORDS)
            lines[k] = " ".join(words)
        elif how == 4 and lines[k]:
            at = rng.randrange(len(lines[k]) + 1)
            lines[k] = lines[k][:at] + rng.choice('()",:#\t+-%x5 ') + lines[k][at:]
        elif how == 5 and lines[k]:
            at = rng.randrange(len(lines[k]))
            lines[k] = lines[k][:at] + lines[k][at + 1:]
        else:
            lines.insert(k, rng.choice(["", "    # note", "else:", "    on goal:", "exit"]))
        if not lines:
            lines = [""]
    return "\n".join(lines)


def test_mutated_flows_get_the_same_verdict() -> None:
    rng = random.Random(20261123)
    sources = [p.read_text(encoding="utf-8") for p in corpus()]
    for _ in range(400):
        assert_same(mutate(rng.choice(sources), rng))


@pytest.mark.slow
def test_many_more_mutations() -> None:
    rng = random.Random(1123)
    sources = [p.read_text(encoding="utf-8") for p in corpus()]
    for _ in range(6000):
        assert_same(mutate(rng.choice(sources), rng))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(S.modules())
def test_printed_trees_parse_the_same(module: Any) -> None:
    assert_same(format_module(module, scan("")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*KEYWORDS, "x", '"t"', "5", "2.5", "+5", "50%", "09:30", "\n",
                                 "\n    ", "\n        ", "(", ")", ",", ":", "#c", "-", "="]),
                max_size=40).map(" ".join))
def test_token_soup_gets_the_same_verdict(text: str) -> None:
    assert_same(text)


def test_parse_source_gives_the_same_without_the_fast_driver(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole files through parse_source (chunks, error recovery, diagnostics): the same trees and
    the same diagnostics whether the fast driver runs or Lark does everything."""
    from dsl import parser

    rng = random.Random(31)
    texts = [p.read_text(encoding="utf-8") for p in corpus()]
    texts += [mutate(rng.choice(texts), rng) for _ in range(100)]

    def outcome(text: str) -> Any:
        module, diags = parse_source("o.flow", text)
        return dump(module), [(d.code, d.message, d.span, d.hint, d.notes) for d in diags]

    fast = [outcome(t) for t in texts]
    monkeypatch.setattr(parser, "fast_tables", lambda: None)
    assert [outcome(t) for t in texts] == fast

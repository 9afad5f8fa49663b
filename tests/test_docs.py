"""docs/language.md: every example parses (and checks, when marked), and every construct of the
language is shown by at least one example."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from lark import Tree

from dsl import ast as A
from dsl.check import check_modules
from dsl.parser import lark_parser, parse_source

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
FENCE = re.compile(r"^```flow( check)?\n(.*?)^```$", re.M | re.S)


@dataclasses.dataclass(frozen=True)
class Example:
    line: int
    check: bool
    text: str

    def __str__(self) -> str:
        return f"language.md:{self.line}"


def examples() -> list[Example]:
    doc = DOC.read_text(encoding="utf-8")
    return [Example(doc.count("\n", 0, m.start()) + 1, m.group(1) is not None, m.group(2))
            for m in FENCE.finditer(doc)]


EXAMPLES = examples()


def parse(ex: Example) -> A.Module:
    module, diags = parse_source(str(ex), ex.text)
    assert module is not None and not diags, "\n".join(d.message for d in diags)
    return module


def test_the_reference_has_examples() -> None:
    assert len(EXAMPLES) > 50
    assert sum(ex.check for ex in EXAMPLES) > 40
    other = re.findall(r"^```(\w[\w ]*)$", DOC.read_text(encoding="utf-8"), re.M)
    assert set(other) <= {"flow", "flow check"}, "a flow example with another info string"


@pytest.mark.parametrize("ex", EXAMPLES, ids=str)
def test_example_parses_alone(ex: Example) -> None:
    parse(ex)


@pytest.mark.parametrize("ex", [e for e in EXAMPLES if e.check], ids=str)
def test_checked_example_has_no_error(ex: Example) -> None:
    errors = [d for d in check_modules([parse(ex)]) if d.is_error]
    assert not errors, "\n".join(f"{d.code} line {d.span.line}: {d.message}" for d in errors)


# ------------------------------------------------------------------ coverage


def nodes(value: object) -> Iterator[object]:
    """Every syntax-tree node under ``value`` (dataclasses, inside tuples too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for f in dataclasses.fields(value):
            yield from nodes(getattr(value, f.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from nodes(item)


def members(union: object) -> set[type]:
    return set(typing.get_args(union))


def produced() -> set[type]:
    return {type(n) for ex in EXAMPLES for n in nodes(parse(ex))}


@pytest.mark.parametrize("union", ["Condition", "Step", "Definition", "FlowItem", "ScoreLine",
                                   "PolicyLine", "Operand"])
def test_every_node_class_has_an_example(union: str) -> None:
    missing = members(getattr(A, union)) - produced()
    assert not missing, f"no example of: {sorted(c.__name__ for c in missing)}"


def variants() -> set[str]:
    """The spelled-out variants the classes alone do not tell apart."""
    seen: set[str] = set()
    for ex in EXAMPLES:
        for n in nodes(parse(ex)):
            match n:
                case A.Compare(op=op) | A.TextMatch(op=op) | A.DateWindow(op=op):
                    seen.add(f"{type(n).__name__} {op}")
                case A.Count(op=op):
                    seen.add(f"Count {op}")
                case A.Did(verb=verb, target=target):
                    seen.add(f"Did {verb} {'any' if target is None else type(target).__name__}")
                case A.LastEvent(more=more):
                    seen.add(f"LastEvent {'more' if more else 'less'}")
                case A.InList(negated=neg) | A.Known(known=neg):
                    seen.add(f"{type(n).__name__} {neg}")
                case A.TierRule(kind=kind) | A.Schedule(kind=kind) | A.EventFilter(kind=kind):
                    seen.add(f"{type(n).__name__} {kind}")
                case A.ScoreOption(kind=kind) | A.PolicyFlag(kind=kind):
                    seen.add(f"{type(n).__name__} {kind}")
                case A.Sender(owner=owner, address=address):
                    seen.add(f"Sender {owner} {address is not None}")
                case A.Send(series=series, name=name):
                    seen.add(f"Send series={series} named={name is not None}")
                case A.Notify(owner=owner, team=team):
                    seen.add(f"Notify {owner} {team is not None}")
                case A.ReEnter(after=after):
                    seen.add(f"ReEnter {after is not None}")
                case A.SplitBranch(steps=steps):
                    seen.add(f"SplitBranch holdout={steps is None}")
                case A.MergeRule(sources=sources, then_newest=tn, blank_overwrites=bo):
                    seen.add(f"MergeRule prefer={bool(sources)}")
                    seen.update({"MergeRule then newest"} if tn else set())
                    seen.update({"MergeRule blank overwrites"} if bo else set())
                case A.PriorityRule(condition=cond):
                    seen.add(f"PriorityRule otherwise={cond is None}")
                case A.Shift(sign=sign):
                    seen.add(f"Shift {sign}")
    return seen


WANTED = {
    *(f"Compare {op}" for op in ("=", "!=", "<", "<=", ">", ">=", "is", "is not")),
    *(f"TextMatch {op}" for op in ("contains", "starts with", "ends with", "matches")),
    *(f"DateWindow {op}" for op in ("within", "in last", "more than ago", "less than ago")),
    "Count at least", "Count at most", "Count no", "LastEvent more", "LastEvent less",
    "Did clicked Name", "Did clicked any", "Did opened Name", "Did opened any",
    *(f"Did {v} Str" for v in ("visited", "downloaded", "submitted", "attended")),
    "InList False", "InList True", "Known True", "Known False",
    *(f"TierRule {k}" for k in ("between", "at least", "below", "matches", "in", "otherwise")),
    "Schedule every", "Schedule interval", "Schedule cron",
    "EventFilter on", "EventFilter to", "EventFilter from", "EventFilter where",
    "ScoreOption half-life", "ScoreOption window", "ScoreOption cap",
    "PolicyFlag require consent", "PolicyFlag skip public holidays",
    "Sender True True", "Sender True False", "Sender False True",
    "Send series=True named=True", "Send series=False named=True", "Send series=False named=False",
    "Notify True False", "Notify True True", "Notify False True",
    "ReEnter True", "ReEnter False", "SplitBranch holdout=True", "SplitBranch holdout=False",
    "MergeRule prefer=True", "MergeRule prefer=False", "MergeRule then newest",
    "MergeRule blank overwrites", "PriorityRule otherwise=True", "PriorityRule otherwise=False",
    "Shift +", "Shift -",
}


def test_every_variant_has_an_example() -> None:
    missing = WANTED - variants()
    assert not missing, f"no example of: {sorted(missing)}"


def grammar_names() -> set[str]:
    """Every tree name the grammar can produce: rule names and aliases (``?`` rules that only
    pass their one child on are left out: they never show in a tree)."""
    names: set[str] = set()
    for rule in lark_parser().rules:
        origin = str(rule.origin.name)
        if origin.startswith("_"):
            continue
        if rule.alias:
            names.add(str(rule.alias))
        elif not rule.options.expand1:
            names.add(origin)
    return names | {"or_cond", "and_cond"}  # `?` rules that do show with two or more parts


def tree_names(tree: Tree) -> set[str]:
    return {str(t.data) for t in tree.iter_subtrees()}


def test_every_grammar_rule_has_an_example() -> None:
    parser = lark_parser()
    seen: set[str] = set()
    for ex in EXAMPLES:
        seen |= tree_names(parser.parse(ex.text if ex.text.endswith("\n") else ex.text + "\n"))
    missing = grammar_names() - seen
    assert not missing, f"grammar rules without an example: {sorted(missing)}"

"""Conditions that can never be true (W0101) or are always true (W0102), and flows whose leads
meet the exit condition the moment they enter (W0110).

Every condition of the folder is looked at: flow settings and branches, repeats, waits for an
event, segments, priority rules, score terms and the policy. The reasoning lives in
``dsl.logic``; this pass only picks the node to point at and words the finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl.checks.memo import shared_reasoner
from dsl.checks.structure import all_steps, step_blocks
from dsl.diagnostics import Diagnostic, warning
from dsl.formatter import condition as show
from dsl.logic.solve import Conflict, Reasoner

if TYPE_CHECKING:
    from dsl.check import Context


def check_logic(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    reasoner = shared_reasoner(modules)
    out: list[Diagnostic] = []
    for cond in conditions(modules):
        _visit(cond, reasoner, out)
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Flow):
                out.extend(_exits_at_once(item, reasoner))
    return out


def conditions(modules: Sequence[A.Module]) -> Iterator[A.Condition]:
    """Every condition written in the folder, in document order."""
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Segment):
                yield item.condition
            elif isinstance(item, A.Score):
                yield from (x.condition for x in item.lines if isinstance(x, A.WhenPoints))
            elif isinstance(item, A.Priority):
                yield from (r.condition for r in item.rules if r.condition is not None)
            elif isinstance(item, A.Policy):
                yield from (x.condition for x in item.lines if isinstance(x, A.NeverEmail))
            elif isinstance(item, A.Flow):
                yield from _flow_conditions(item)


def _flow_conditions(flow: A.Flow) -> Iterator[A.Condition]:
    for item in flow.items:
        if isinstance(item, A.EnterWhen | A.ExitWhen | A.GoalWhen):
            yield item.condition
        elif isinstance(item, A.EnterOn) and item.condition is not None:
            yield item.condition
    for block in step_blocks(flow):
        for step in all_steps(block):
            if isinstance(step, A.If):
                yield from (b.condition for b in step.branches)
            elif isinstance(step, A.WaitEvent):
                yield step.condition
            elif isinstance(step, A.Repeat) and step.until is not None:
                yield step.until


def _visit(c: A.Condition, r: Reasoner, out: list[Diagnostic]) -> None:
    """Report the largest parts of ``c`` that can never be true, and `at least 0` counts."""
    if isinstance(c, A.Or):
        for item in c.items:
            _visit(item, r, out)
        return
    if isinstance(c, A.Not):
        _visit(c.item, r, out)
        return
    if isinstance(c, A.SegmentRef | A.GoalRef):
        return  # a segment is reported where it is defined
    conflict = r.never_true(c)
    if conflict is None:
        if isinstance(c, A.And):
            shown = r.satisfiable(c)
            for item in c.items:
                if shown and not isinstance(item, A.And | A.Or | A.Not):
                    _always_true(item, out)  # satisfiable as a part of `c`: nothing else to say
                else:
                    _visit(item, r, out)
        else:
            _always_true(c, out)
        return
    if isinstance(c, A.And):
        if any(isinstance(i, A.SegmentRef) and r.never_true(i) for i in c.items):
            return
        if any(r.never_true(i) for i in c.items):
            for item in c.items:
                _visit(item, r, out)
            return
    out.append(warning("W0101", "this condition can never be true", c.span, _hint(c, conflict),
                       conflict.note()))


def _always_true(c: A.Condition, out: list[Diagnostic]) -> None:
    if isinstance(c, A.Count) and c.op == "at least" and c.n == 0:
        out.append(warning("W0102", "this condition is always true", c.span,
                           "did you mean `at least 1`?", "every lead has at least 0 of anything"))


def _hint(c: A.Condition, conflict: Conflict) -> str:
    found = conflict.hint()
    if found:
        return found
    if any(i.declared for i in conflict.items):
        return "use one of the declared values, or declare the one you need"
    direct = isinstance(c, A.And) and all(i.node in c.items for i in conflict.items)
    if direct and len(conflict.items) == 2 and conflict.subject[0] == "attr":
        return "if either one should do, join them with `or` instead of `and`"
    if conflict.subject[0] in ("count", "did", "last"):
        return "check the counts and time windows: as written, no lead can match"
    return "check the numbers and values: as written, no lead can match"


def _exits_at_once(flow: A.Flow, r: Reasoner) -> list[Diagnostic]:
    """W0110: the entry condition implies an exit condition, so leads leave as they enter."""
    out: list[Diagnostic] = []
    entries: list[tuple[A.Condition, A.Span, str]] = []
    for item in flow.items:
        if isinstance(item, A.EnterWhen):
            entries.append((item.condition, item.span, "enter when"))
        elif isinstance(item, A.EnterOn) and item.condition is not None:
            entries.append((item.condition, item.span, "enter on"))
    for ex in flow.settings(A.ExitWhen):
        for cond, span, words in entries:
            if r.never_true(cond) or r.always_true(ex.condition):
                continue  # reported as never / always true already
            if r.never_true(A.And((cond, A.Not(ex.condition)))):
                out.append(warning(
                    "W0110", "leads would leave this flow as soon as they enter it",
                    ex.condition.span, "exit on something that entering leads do not meet yet",
                    f"every lead that matches `{show(cond)}` ({words}, line {span.line}) also "
                    "matches this exit condition"))
                break
    return out

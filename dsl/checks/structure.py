"""Structure of flows: entries and one-off settings, steps that can never run, splits, repeats.

E0401-E0407, W0103-W0104, W0114 and W0115. Spans point at the keyword that starts the line (a step's
span runs to the next line, so its first word is the exact place to show).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl.checks.memo import shared_reasoner
from dsl.diagnostics import Diagnostic, error, warning
from dsl.logic.atoms import DAYS, HUGE
from dsl.logic.facts import num
from dsl.logic.solve import Reasoner

if TYPE_CHECKING:
    from dsl.check import Context

KEYWORDS: dict[type, str] = {
    A.Send: "send", A.WaitFor: "wait", A.WaitUntil: "wait", A.WaitEvent: "wait", A.If: "if",
    A.Split: "split", A.Repeat: "repeat", A.SetAttr: "set", A.Notify: "notify",
    A.Handoff: "handoff", A.ExitStep: "exit", A.Flow: "flow", A.OnGoal: "on",
    A.GoalWhen: "goal", A.ReEnter: "re-enter", A.FlowPriority: "priority", A.MoveStep: "move",
}
ONCE: tuple[tuple[type, str], ...] = (
    (A.GoalWhen, "goal when"), (A.ReEnter, "re-enter"), (A.FlowPriority, "priority"),
)


def head(span: A.Span, width: int) -> A.Span:
    """The first ``width`` characters of a node's first line."""
    return A.Span(span.file, span.line, span.column, span.line, span.column + max(width, 1))


def keyword_span(node: object) -> A.Span:
    span: A.Span = getattr(node, "span", A.NO_SPAN)
    if isinstance(node, A.TagStep):
        return head(span, 3 if node.add else 6)
    return head(span, len(KEYWORDS.get(type(node), "x")))


def sub_blocks(step: A.Step) -> Iterator[tuple[A.Step, ...]]:
    if isinstance(step, A.If):
        yield from (b.steps for b in step.branches)
        if step.otherwise is not None:
            yield step.otherwise
    elif isinstance(step, A.Split):
        yield from (b.steps for b in step.branches if b.steps is not None)
    elif isinstance(step, A.Repeat):
        yield step.steps


def all_steps(steps: Sequence[A.Step]) -> Iterator[A.Step]:
    for step in steps:
        yield step
        for block in sub_blocks(step):
            yield from all_steps(block)


def flows(modules: Sequence[A.Module]) -> Iterator[A.Flow]:
    for m in modules:
        yield from (i for i in m.items if isinstance(i, A.Flow))


def step_blocks(flow: A.Flow) -> list[tuple[A.Step, ...]]:
    """The flow's steps and those of its `on goal:` block."""
    return [flow.steps, *(i.steps for i in flow.items if isinstance(i, A.OnGoal))]


def check_structure(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    reasoner = shared_reasoner(modules)
    out: list[Diagnostic] = []
    for flow in flows(modules):
        out.extend(_settings(flow))
        for block in step_blocks(flow):
            _unreachable(block, reasoner, out)
            for step in all_steps(block):
                if isinstance(step, A.Split):
                    out.extend(_split(step))
                elif isinstance(step, A.Repeat):
                    out.extend(_repeat(step))
                elif isinstance(step, A.WaitEvent):
                    out.extend(_waits_on_history(step))
    out.extend(_capacities(modules))
    return out


def _capacities(modules: Sequence[A.Module]) -> list[Diagnostic]:
    """W0115: hand-offs to one team with different daily capacities. The team's queue is one:
    a lead handed off `at most 5 per day` waits once 5 leads of any flow went that day."""
    by_team: dict[str, list[A.Handoff]] = {}
    for flow in flows(modules):
        for block in step_blocks(flow):
            for step in all_steps(block):
                if isinstance(step, A.Handoff):
                    by_team.setdefault(step.team, []).append(step)
    out: list[Diagnostic] = []
    for team, steps in by_team.items():
        counts = Counter(s.per_day for s in steps)
        if len(counts) < 2:
            continue
        # the odd ones out are flagged, against what most of the team's hand-offs say
        usual, _ = max(counts.items(), key=lambda kv: (kv[1], kv[0] or 0))
        first = next(s for s in steps if s.per_day == usual)
        said = "no capacity" if usual is None else f"at most {usual} per day"
        for step in steps:
            if step.per_day == usual:
                continue
            out.append(warning(
                "W0115", f"hand-offs to `{team}` declare different daily capacities",
                keyword_span(step), f"say `{said}` here too, or change the others: the "
                "capacity is the team's, counted over all of its hand-offs",
                f"{counts[usual]} other hand-off(s) to `{team}` say {said}, the first at "
                f"{first.span.file}:{first.span.line}"))
    return out


def _settings(flow: A.Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    where = keyword_span(flow)
    if not flow.settings(A.EnterWhen) and not flow.settings(A.EnterOn):
        out.append(error("E0404", f"flow `{flow.name}` has no entry, so no lead can ever enter it",
                         where, "add a line `enter when <condition>` or `enter on <event>`"))
    for kind, words in ONCE:
        found = flow.settings(kind)
        for extra in found[1:]:
            first = found[0]
            fix = ("combine the conditions into one line with `and` / `or`" if words == "goal when"
                   else f"keep one `{words}` line")
            out.append(error("E0405", f"this flow already has a `{words}` line",
                             keyword_span(extra), fix,
                             f"the first one is on line {first.span.line}"))
    if not flow.steps:
        out.append(error("E0406", f"flow `{flow.name}` has no steps: leads would enter and get "
                         "nothing", where, 'add steps such as `send "welcome/intro.html"`'))
    return out


def _stops(step: A.Step, reasoner: Reasoner) -> tuple[str, str] | None:
    """(why nothing after this step runs, the fix) or None when leads can go on past it."""
    line = step.span.line
    if isinstance(step, A.ExitStep):
        return (f"the `exit` on line {line} ends the flow for every lead who gets there",
                "delete the steps after `exit`, or move them above it")
    branches: list[tuple[A.Step, ...] | None] = []
    if isinstance(step, A.If) and step.otherwise is not None:
        branches = [*(b.steps for b in step.branches), step.otherwise]
    elif isinstance(step, A.Split):
        branches = [b.steps for b in step.branches]
    if branches and all(b is not None and _block_stops(b, reasoner) for b in branches):
        what = "the `if`" if isinstance(step, A.If) else "the split"
        return (f"no branch of {what} on line {line} continues past it",
                "let one branch go on (remove its `exit`), or delete the steps after it")
    if isinstance(step, A.Repeat) and step.max_times is None:
        fix = f"add `until <condition>` or `, at most N times` to the repeat on line {line}"
        if step.until is None:
            return (f"the `repeat` on line {line} has no `until` and no `at most`, so it never "
                    "ends", fix)
        if reasoner.never_true(step.until):
            return (f"the `repeat` on line {line} never ends: its `until` can never be true", fix)
    return None


def _block_stops(steps: Sequence[A.Step], reasoner: Reasoner) -> bool:
    return any(_stops(s, reasoner) for s in steps)


def _unreachable(steps: Sequence[A.Step], reasoner: Reasoner, out: list[Diagnostic]) -> None:
    """W0103 on the first step of each block that no lead can reach."""
    for k, step in enumerate(steps):
        for block in sub_blocks(step):
            _unreachable(block, reasoner, out)
        stop = _stops(step, reasoner)
        if stop is None:
            continue
        if k + 1 < len(steps):
            why, fix = stop
            out.append(warning("W0103", "no lead can ever reach this step",
                               keyword_span(steps[k + 1]), fix, why))
        return


def _split(split: A.Split) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    where = head(split.span, len("split"))
    total = sum(b.percent for b in split.branches)
    if abs(total - 100) > 1e-6:
        gap = abs(100 - total)
        fix = (f"add {num(round(gap, 6))}% to a branch, or add a holdout branch such as "
               f"`control {num(round(gap, 6))}%`" if total < 100
               else f"take {num(round(gap, 6))}% off the branches")
        out.append(error("E0401", f"the branches of split `{split.name}` add up to "
                         f"{num(round(total, 6))}%, not 100%", where, fix))
    seen: dict[str, A.SplitBranch] = {}
    for b in split.branches:
        if b.name in seen:
            out.append(error("E0402", f"split `{split.name}` already has a branch `{b.name}`",
                             head(b.span, len(b.name)), "give each branch its own name",
                             f"the first `{b.name}` is on line {seen[b.name].span.line}"))
        seen.setdefault(b.name, b)
    if len(split.branches) < 2:
        out.append(error("E0403", f"split `{split.name}` has only one branch, so it splits nothing",
                         where, "add another branch (a holdout such as `control 10%` counts), "
                         "or remove the split and keep its steps"))
    return out


def _on_history(c: A.Condition) -> bool:
    """Whether any matching event of the lead's whole history satisfies the wait's test:
    `visited "/p*"`, `clicked any email`, `at least 2 downloads`, without a window (`clicked
    STEP` counts from the lead's latest entry into the flow only)."""
    if isinstance(c, A.Did):
        return c.window is None and not isinstance(c.target, A.Name)
    return isinstance(c, A.Count) and c.op == "at least" and c.n > 0 and c.window is None


def _waits_on_history(wait: A.WaitEvent) -> list[Diagnostic]:
    """W0114: `wait until` an event test that a past event satisfies: a lead who did it once,
    long before, goes on at once instead of waiting for a new one."""
    from dsl.formatter import condition as show

    test = wait.condition
    if not _on_history(test):
        return []
    return [warning("W0114", f"`{show(test)}` is true at once for a lead who ever did it: this "
                    "wait does not wait for a new one",
                    test.span if test.span.line else keyword_span(wait),
                    "look at recent events only (`... in last 3 days`), or wait on a step of "
                    "this flow (`clicked intro`), which counts from the lead's entry",
                    "an event test without a window reads the lead's whole history")]


def _repeat(rep: A.Repeat) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    every = rep.every
    days = min(every.amount, HUGE) * DAYS[every.unit] if every.unit in DAYS else None
    if days is not None and 0 < days < 1:  # (no time at all is E0311, the type checker's)
        out.append(error("E0407", "a repeat must wait at least 1 day between rounds",
                         every.span if every.span.line else keyword_span(rep),
                         "write `repeat every 1 day` or longer; leads must not get several "
                         "emails a day"))
    visible = (A.Send, A.Notify, A.Handoff)
    if not any(isinstance(s, visible) for s in all_steps(rep.steps)):
        out.append(warning("W0104", "this repeat does nothing a lead or sales would notice",
                           keyword_span(rep), "add a `send` (or `notify` / `handoff`) inside the "
                           "repeat, or remove the repeat",
                           "it has no `send`, `notify` or `handoff` step"))
    return out

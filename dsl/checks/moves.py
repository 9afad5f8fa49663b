"""Pass: ``move "OLD" to NEW`` lines, which say where live enrollments go when a new version of a
flow removes the step they wait at (docs/runtime.md, "Editing a live flow").

Codes: E0224 a ``move`` to a step the flow does not have (the target must be a named step: the
runtime moves enrollments to a label, and a name is the only label an author can rely on),
E0225 one label moved twice (which line wins would be a guess), W0112 a ``move`` whose old label
is still a step of the flow: enrollments there stay where they are, so it never applies.

``engine check`` cannot know which labels older versions had (that is in the store; ``engine
plan`` reports stranded enrollments), so an old label is not checked against history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import symbols as S
from dsl.checks.structure import flows
from dsl.checks.walk import quote, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error, warning
from dsl.labels import labels

if TYPE_CHECKING:
    from dsl.check import Context


def check_moves(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for flow in flows(modules):
        moves: list[A.MoveStep] = flow.settings(A.MoveStep)
        if moves:
            out.extend(_flow(flow, moves))
    return tidy(out)


def _old_span(m: A.MoveStep) -> A.Span:
    return word_span(m.span, len("move "), quote(m.old))


def _flow(flow: A.Flow, moves: list[A.MoveStep]) -> Iterator[Diagnostic]:
    named = list(dict.fromkeys(info.name for info in S.flow_steps(flow)))
    existing = labels(flow)
    first: dict[str, A.MoveStep] = {}
    for m in moves:
        earlier = first.setdefault(m.old, m)
        if earlier is not m:
            yield error("E0225", f"the step label {quote(m.old)} is moved twice",
                        _old_span(m), "keep one `move` line for it",
                        f"the first `move` of {quote(m.old)} is on line {earlier.span.line}")
        elif m.old in existing:
            yield _still_there(flow, m, m.old in named)
        if m.to is not None and m.to not in named:
            yield _no_target(flow, m, named)


def _still_there(flow: A.Flow, m: A.MoveStep, is_name: bool) -> Diagnostic:
    if is_name:
        what = f"the step `{m.old}` is still in flow `{flow.name}`"
        note = "enrollments at a step that still exists stay at it"
    else:
        what = f"{quote(m.old)} still labels a step of flow `{flow.name}`"
        note = ("a step without a name is labelled by the named step before it and its "
                "distance: `intro+1` is the first step after `intro`")
    return warning("W0112", f"this move never applies: {what}", _old_span(m),
                   "remove this line, or check the label of the step that was removed", note)


def _no_target(flow: A.Flow, m: A.MoveStep, named: list[str]) -> Diagnostic:
    assert m.to is not None
    span = word_span(m.span, len(f"move {quote(m.old)} to "), m.to)
    hint = did_you_mean(m.to, named)
    if hint is None and named:
        shown = ", ".join(named[:10])
        hint = f"move them to a named step of this flow ({shown}), or `to exit`"
    elif hint is None:
        hint = ("name the step they should go to (such as `send checkin \"...\"`), "
                "or write `to exit`")
    return error("E0224", f"flow `{flow.name}` has no step named `{m.to}` to move to", span,
                 hint)

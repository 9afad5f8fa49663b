"""The labels by which the runtime knows where an enrollment waits (docs/runtime.md).

A live enrollment remembers its step by label, never by position, so a new version of a flow
keeps it in place wherever the label still exists; ``move "OLD" to NEW`` lines say where the
others go. The checker needs the labels a flow has to tell a ``move`` that can never apply.

- a named step is labelled by its name: ``send intro ...`` is ``intro``, a ``send`` without a
  name its template's stem (``case_study``), ``split offer:`` is ``offer``;
- any other step by the nearest named step before it in the same block and its distance:
  ``intro+1`` is the first step after ``intro``; before any named step, the block's own label:
  ``start+1`` at the top of the flow, ``goal+1`` in ``on goal:``;
- nested blocks add ``/``: ``intro+2/if`` (the first branch), ``intro+2/elif1``,
  ``intro+2/else``, ``monthly/repeat``, ``offer/variant_a`` (a split branch);
- and the places the runtime itself parks an enrollment: the end of a top-level block (the label
  after its last step), ``.../repeat_end`` (between two rounds of a repeat) and ``.../X+0`` (an
  empty branch).

tests/dsl/test_moves.py holds this to engine.runtime.program, which runs the flows.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsl import ast as A

START = "start"
GOAL = "goal"


def step_name(step: A.Step) -> str | None:
    """The name that labels a step, if it has one (a send or a split)."""
    if isinstance(step, A.Send):
        return step.step_name
    if isinstance(step, A.Split):
        return step.name
    return None


def labels(flow: A.Flow) -> set[str]:
    """Every label a step of ``flow`` has (and the end of each top-level block)."""
    out: set[str] = set()
    _block(flow.steps, START, out, end=True)
    if flow.on_goal:
        _block(flow.on_goal, GOAL, out, end=True)
    return out


def labelled(steps: Sequence[A.Step], base: str) -> tuple[list[tuple[A.Step, str]], str]:
    """Each step of a block with its label, and the label after its last step (where the
    runtime parks an enrollment at the end of a top-level block). The one place the rule
    lives: the checker and engine.runtime.program both label through it."""
    anchor, distance = base, 0
    out: list[tuple[A.Step, str]] = []
    for step in steps:
        name = step_name(step)
        if name is not None:
            anchor, distance = name, 0
            out.append((step, name))
        else:
            distance += 1
            out.append((step, f"{anchor}+{distance}"))
    return out, f"{anchor}+{distance + 1}"


def _block(steps: Sequence[A.Step], base: str, out: set[str], end: bool = False) -> None:
    pairs, after = labelled(steps, base)
    for step, label in pairs:
        out.add(label)
        if isinstance(step, A.If):
            heads = ["if", *(f"elif{k}" for k in range(1, len(step.branches)))]
            for head, arm in zip(heads, step.branches, strict=True):
                _sub_block(arm.steps, f"{label}/{head}", out)
            if step.otherwise is not None:
                _sub_block(step.otherwise, f"{label}/else", out)
        elif isinstance(step, A.Split):
            for branch in step.branches:
                if branch.steps is not None:
                    _sub_block(branch.steps, f"{label}/{branch.name}", out)
        elif isinstance(step, A.Repeat):
            _sub_block(step.steps, f"{label}/repeat", out)
            out.add(f"{label}/repeat_end")
    if end:
        out.add(after)


def _sub_block(steps: Sequence[A.Step], base: str, out: set[str]) -> None:
    if not steps:
        out.add(f"{base}+0")
    else:
        _block(steps, base, out)

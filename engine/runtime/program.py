"""A flow's steps as a flat program of labelled instructions: what the runtime executes.

    program = compile_flow(flow)
    program.labels["intro"]          # index of the instruction labelled `intro`
    program.instrs[0]                # Instr(label="intro", op="send", ...)

An enrollment remembers where it is by **label**, never by index, so a new version of the flow
keeps it in place wherever the label still exists (docs/runtime.md, "Editing a live flow").
Labels:

- a named step is labelled by its name: `send intro ...` -> ``intro``; a `send` without a name
  by its template's stem (``case_study``); `split offer:` -> ``offer``;
- any other step by the nearest named step before it in the same block, plus its distance:
  ``intro+1`` (the first step after ``intro``), ``intro+2``; at the top of a block with no named
  step before it, the block's label: ``start+1``;
- blocks nest with ``/``: ``intro+2/if`` (the first branch), ``intro+2/elif1``, ``intro+2/else``,
  ``monthly+1/repeat``, ``offer/case_study`` (a split branch), ``goal`` (the `on goal:` block).

The instruction set is small: every step kind maps to one op, plus ``jump``, ``repeat_end``
(wait, then back to the head) and ``end`` (the block's end: completed, or for `on goal` the goal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dsl import ast as A
from dsl.labels import GOAL, START, labelled


@dataclass(frozen=True)
class Instr:
    label: str
    op: str  # send, wait_for, wait_until, wait_event, branch, split, repeat, repeat_end, set,
    # tag, notify, handoff, exit, jump, end
    step: Any = None  # the AST step (None for jump / end / repeat_end)
    # branch: [(condition, target)], else target in `next`; split: [(name, percent, target)]
    targets: tuple[Any, ...] = ()
    next: int = -1  # where to go after this instruction (branch: no branch taken)
    head: int = -1  # repeat_end: the repeat head; repeat: the instruction after the loop


@dataclass
class Program:
    flow: str
    instrs: list[Instr] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    goal: int | None = None  # the first instruction of `on goal:`, if any

    @property
    def first(self) -> str:
        return self.instrs[0].label


def compile_flow(flow: A.Flow) -> Program:
    program = Program(flow.name)
    _Builder(program).block(flow.steps, START, end="end")
    if flow.on_goal:
        program.goal = len(program.instrs)
        _Builder(program).block(flow.on_goal, GOAL, end="goal_end")
    for i, ins in enumerate(program.instrs):
        program.labels.setdefault(ins.label, i)
    return program


Exit = tuple[int, str]  # (instruction index, field to patch: "next" or "head")


class _Builder:
    """Emits instructions depth first. An instruction that leaves its block is an open *exit*
    (index, field), patched once the instruction after the block exists."""

    def __init__(self, program: Program) -> None:
        self.p = program

    def emit(self, ins: Instr) -> int:
        self.p.instrs.append(ins)
        return len(self.p.instrs) - 1

    def patch(self, exits: list[Exit], target: int) -> None:
        for index, name in exits:
            old = self.p.instrs[index]
            self.p.instrs[index] = Instr(**{**old.__dict__, name: target})

    def set(self, index: int, **changes: Any) -> None:
        old = self.p.instrs[index]
        self.p.instrs[index] = Instr(**{**old.__dict__, **changes})

    def block(self, steps: tuple[A.Step, ...], base: str, end: str | None = None) -> list[Exit]:
        """Emit ``steps`` (and, for a top-level block, its ``end``); returns the open exits."""
        pairs, after = labelled(steps, base)
        exits: list[Exit] = []
        for step, label in pairs:
            self.patch(exits, len(self.p.instrs))
            exits = self.step(step, label)
        if end is not None:
            index = self.emit(Instr(after, end))
            self.patch(exits, index)
            return []
        return exits

    def step(self, step: A.Step, label: str) -> list[Exit]:
        match step:
            case A.If():
                return self.if_(step, label)
            case A.Split():
                return self.split(step, label)
            case A.Repeat():
                return self.repeat(step, label)
            case A.ExitStep():
                self.emit(Instr(label, "exit", step))
                return []
        op = {A.Send: "send", A.WaitFor: "wait_for", A.WaitUntil: "wait_until",
              A.WaitEvent: "wait_event", A.SetAttr: "set", A.TagStep: "tag",
              A.Notify: "notify", A.Handoff: "handoff"}[type(step)]
        return [(self.emit(Instr(label, op, step)), "next")]

    def if_(self, step: A.If, label: str) -> list[Exit]:
        head = self.emit(Instr(label, "branch", step))
        targets = []
        out: list[Exit] = []
        names = ["if", *(f"elif{i}" for i in range(1, len(step.branches)))]
        for name, branch in zip(names, step.branches, strict=True):
            targets.append((branch.condition, len(self.p.instrs)))
            out += self.sub_block(branch.steps, f"{label}/{name}")
        if step.otherwise is not None:
            self.set(head, next=len(self.p.instrs))
            out += self.sub_block(step.otherwise, f"{label}/else")
        else:
            out.append((head, "next"))
        self.set(head, targets=tuple(targets))
        return out

    def split(self, step: A.Split, label: str) -> list[Exit]:
        head = self.emit(Instr(label, "split", step))
        targets = []
        out: list[Exit] = [(head, "next")]  # a holdout goes straight on
        for branch in step.branches:
            if branch.steps is None:
                targets.append((branch.name, branch.percent, -1))
                continue
            targets.append((branch.name, branch.percent, len(self.p.instrs)))
            out += self.sub_block(branch.steps, f"{label}/{branch.name}")
        self.set(head, targets=tuple(targets))
        return out

    def repeat(self, step: A.Repeat, label: str) -> list[Exit]:
        """``repeat`` checks `until` / `at most` and enters the body (``next``) or leaves
        (``head``); the body ends in ``repeat_end``, which waits `every` and goes back."""
        head = self.emit(Instr(label, "repeat", step, next=len(self.p.instrs) + 1))
        body = self.sub_block(step.steps, f"{label}/repeat")
        tail = self.emit(Instr(f"{label}/repeat_end", "repeat_end", step, next=head))
        self.patch(body, tail)
        if not step.steps:
            self.set(head, next=tail)
        return [(head, "head")]

    def sub_block(self, steps: tuple[A.Step, ...], base: str) -> list[Exit]:
        if not steps:
            return [(self.emit(Instr(f"{base}+0", "jump")), "next")]
        return self.block(steps, base)

"""The runtime's view of a folder of flows: each flow compiled once, with what a tick needs.

    folder = Folder.load(["flows/"])             # raises UsageError on any `engine check` error
    for fr in folder.by_priority(): ...          # FlowRuntime: flow, context, program, settings
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from dsl import ast as A
from dsl import symbols as S
from dsl.formatter import format_module
from engine.conditions.model import Context
from engine.runtime.program import Program, compile_flow
from engine.runtime.windows import SendWindow
from engine.workspace import UsageError, load

DEFAULT_PRIORITY = 100  # flows without `priority N` come after every flow that has one


@dataclass(frozen=True)
class FlowRuntime:
    flow: A.Flow
    ctx: Context
    program: Program
    source: str  # the flow's canonical text: what a version stores
    sha: str

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def priority(self) -> int:
        found = self.flow.settings(A.FlowPriority)
        return found[0].value if found else DEFAULT_PRIORITY

    @property
    def entry(self) -> A.EnterWhen | A.EnterOn | None:
        for item in self.flow.items:
            if isinstance(item, A.EnterWhen | A.EnterOn):
                return item
        return None

    @property
    def exits(self) -> list[A.Condition]:
        return [e.condition for e in self.flow.settings(A.ExitWhen)]

    @property
    def goal(self) -> A.Condition | None:
        goals = self.flow.settings(A.GoalWhen)
        return goals[0].condition if goals else None

    @property
    def reenter_after(self) -> A.Duration | None:
        """None: never (also when the flow says nothing)."""
        found = self.flow.settings(A.ReEnter)
        return found[0].after if found else None

    @property
    def schedule(self) -> A.Schedule | None:
        found = self.flow.settings(A.Schedule)
        return found[0] if found else None

    @property
    def moves(self) -> list[A.MoveStep]:
        """`move "OLD" to NEW` / `move "OLD" to exit "REASON"` lines."""
        return self.flow.settings(A.MoveStep)


@dataclass
class Folder:
    symbols: S.Symbols
    flows: list[FlowRuntime] = field(default_factory=list)

    @classmethod
    def load(cls, paths: list[str], templates: str | None = None) -> Folder:
        ws = load(paths, templates=templates)
        errors = [d for d in ws.diagnostics if d.is_error]
        if errors:
            first = errors[0]
            raise UsageError(f"{len(errors)} error(s) in the flows, the first: "
                             f"{first.span.file}:{first.span.line}: {first.message}; "
                             f"run `engine check {' '.join(paths)}`")
        return cls.from_modules(ws.modules, set(ws.targets))

    @classmethod
    def from_modules(cls, modules: list[A.Module], targets: set[str] | None = None) -> Folder:
        symbols = S.build(modules)
        out = cls(symbols)
        for module in sorted(modules, key=lambda m: m.path):
            if targets is not None and module.path not in targets:
                continue  # a sibling read for its definitions: its flows do not run
            for item in module.items:
                if isinstance(item, A.Flow):
                    source = format_module(A.Module(module.path, (item,)), [])
                    out.flows.append(FlowRuntime(
                        item, Context(symbols, item), compile_flow(item), source,
                        hashlib.sha256(source.encode("utf-8")).hexdigest()))
        return out

    def by_priority(self) -> list[FlowRuntime]:
        return sorted(self.flows, key=lambda f: (f.priority, f.name))

    def flow(self, name: str) -> FlowRuntime:
        for f in self.flows:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def window(self) -> SendWindow:
        return SendWindow.from_policy(self.symbols.policies)


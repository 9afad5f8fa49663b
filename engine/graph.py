"""A Mermaid flowchart of the flows in one file, for reviewing a flow in a pull request.

Each flow becomes a subgraph: an entry node (the trigger, schedule and re-entry rule), its steps
in order, decisions with labelled edges that rejoin, splits with their percentages, repeats as a
loop edge, exits as terminal nodes, and ``on goal`` as a nested subgraph entered from a "goal
reached" node. The folder's definitions only add words to labels (segment and team titles)::

    text = render_file("flows/revive_dormant.flow")      # "flowchart TD\\n..."

Node ids are derived from the flow and step names (or the step's position when it has no name),
so the same file always gives the same text, and a diff of two graphs shows what changed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import assert_never

from dsl import ast as A
from dsl.formatter import condition, duration, event, number, operand, quote

WRAP = 40  # display columns per label line (a CJK character counts as two)

CLASSES = (
    "classDef entry fill:#e8f0fe,stroke:#3c64b1",
    "classDef send fill:#ffffff,stroke:#555555",
    "classDef wait fill:#fff8e1,stroke:#b08800",
    "classDef decision fill:#f3e5f5,stroke:#7b1fa2",
    "classDef sales fill:#e8f5e9,stroke:#2e7d32",
    "classDef change fill:#f5f5f5,stroke:#888888",
    "classDef stop fill:#fdecea,stroke:#c62828",
    "classDef goal fill:#e8f5e9,stroke:#2e7d32,stroke-width:2px",
)

# Mermaid shapes: (opening, closing) around the quoted label.
SHAPES = {
    "entry": ("([", "])"), "send": ("[", "]"), "wait": ("{{", "}}"), "decision": ("{", "}"),
    "sales": ("[/", "\\]"), "notify": (">", "]"), "change": ("[", "]"), "stop": ("([", "])"),
    "goal": ("([", "])"), "repeat": ("[[", "]]"),
}
CLASS_OF = {"notify": "sales", "repeat": "decision"}


@dataclass(frozen=True)
class Labels:
    """What the folder's definitions add to labels: segment and team titles."""

    segments: dict[str, str] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def of(modules: Iterable[A.Module]) -> Labels:
        labels = Labels()
        for m in modules:
            for item in m.items:
                if isinstance(item, A.Segment) and item.title:
                    labels.segments.setdefault(item.name, item.title)
                elif isinstance(item, A.Team) and item.title:
                    labels.teams.setdefault(item.name, item.title)
        return labels


# ------------------------------------------------------------------ text


def escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for the characters Mermaid or the
    HTML it renders to would read (``#`` first, as every code starts with it)."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("&", "#amp;"), ("<", "#lt;"),
                      (">", "#gt;"), ("`", "#96;"), ("|", "#124;")):
        text = text.replace(raw, code)
    return " ".join(text.split())  # newlines and tabs cannot appear in a label


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, width: int = WRAP) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and _width(lines[-1]) + 1 + _width(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def label(*parts: str) -> str:
    """Each part on its own line (long ones wrapped), escaped, joined with Mermaid line breaks."""
    return "<br/>".join(escape(line) for part in parts if part for line in wrap(part))


def node_id(*parts: str) -> str:
    """An ASCII id: letters, digits and underscores; other characters become ``_xHHHH``."""
    raw = "__".join(parts)
    return re.sub(r"[^A-Za-z0-9_]", lambda m: f"_x{ord(m.group()):04x}", raw)


# ------------------------------------------------------------------ one flow

End = tuple[str, str | None]  # (node id, label of the edge that leaves it)


class FlowGraph:
    """Nodes and edges of one flow, built by walking its steps with the open ends of the graph
    (the nodes the next step is entered from, each with its edge label)."""

    def __init__(self, flow: A.Flow, labels: Labels, taken: set[str] | None = None) -> None:
        self.flow = flow
        self.labels = labels
        self.ids = taken if taken is not None else set()  # shared by the flows of one chart
        self.prefix = node_id(flow.name)
        while any(i.startswith(self.prefix + "__") for i in self.ids):
            self.prefix += "_"  # two flows of one name (the checker reports it)
        self.nodes: list[str] = []
        self.goal_nodes: list[str] = []
        self.edges: list[str] = []
        self._target = self.nodes

    # ---------------------------------------------------------- output

    def node(self, key: str, kind: str, text: str) -> str:
        nid = node_id(self.prefix, key)
        while nid in self.ids:  # only when a flow names two steps alike (the checker says so)
            nid += "_"
        self.ids.add(nid)
        opening, closing = SHAPES[kind]
        self._target.append(f'{nid}{opening}"{text}"{closing}:::{CLASS_OF.get(kind, kind)}')
        return nid

    def edge(self, src: str, dst: str, text: str | None = None, dotted: bool = False) -> None:
        arrow = "-.->" if dotted else "-->"
        via = f'|"{escape(text)}"|' if text else ""
        self.edges.append(f"{src} {arrow}{via} {dst}")

    def join(self, ends: Sequence[End], dst: str) -> None:
        for src, text in ends:
            self.edge(src, dst, text)

    # ---------------------------------------------------------- the whole flow

    def build(self) -> list[str]:
        flow = self.flow
        entry = self.node("enter", "entry", label(*self._entry_lines()))
        for k, ex in enumerate(flow.settings(A.ExitWhen)):
            nid = self.node(f"exit_when{k + 1}", "stop", label(
                f"exit when {condition(ex.condition)}", *self._segments(ex.condition)))
            self.edge(entry, nid, "at any time", dotted=True)
        ends = self.block(flow.steps, [(entry, None)], "s")
        if ends:
            self.join(ends, self.node("end", "stop", label("end of flow")))
        goals = flow.settings(A.GoalWhen)
        if goals or flow.on_goal:
            text = (f"goal when {condition(goals[0].condition)}" if goals else "goal")
            goal = self.node("goal", "goal", label(
                "goal reached", text, *(self._segments(goals[0].condition) if goals else ())))
            self.edge(entry, goal, "at any time", dotted=True)
            if flow.on_goal:
                self._target = self.goal_nodes
                self.block(flow.on_goal, [(goal, None)], "g")
                self._target = self.nodes
        return self._lines()

    def _entry_lines(self) -> list[str]:
        flow, lines = self.flow, []
        for e in flow.settings(A.EnterWhen):
            lines += [f"enter when {condition(e.condition)}", *self._segments(e.condition)]
        for e in flow.settings(A.EnterOn):
            when = f" when {condition(e.condition)}" if e.condition is not None else ""
            lines += [f"enter on {event(e.event)}{when}"]
            lines += self._segments(e.condition) if e.condition is not None else []
        lines += [schedule(s) for s in flow.settings(A.Schedule)]
        lines += [f"priority {p.value}" for p in flow.settings(A.FlowPriority)]
        for r in flow.settings(A.ReEnter):
            lines.append(f"re-enter after {duration(r.after)}" if r.after else "re-enter never")
        return lines

    def _segments(self, cond: A.Condition) -> list[str]:
        """``name: title`` for each titled segment the condition names, in order."""
        seen = dict.fromkeys(segment_refs(cond))
        return [f"{n}: {self.labels.segments[n]}" for n in seen if n in self.labels.segments]

    def _lines(self) -> list[str]:
        title = f"flow {self.flow.name}" + (f": {self.flow.title}" if self.flow.title else "")
        out = [f'subgraph {node_id(self.prefix, "flow")}["{label(title)}"]', "    direction TD"]
        out += [f"    {n}" for n in self.nodes]
        if self.goal_nodes:
            goal_id = node_id(self.prefix, "on_goal")
            out += [f'    subgraph {goal_id}["on goal"]', "        direction TD"]
            out += [f"        {n}" for n in self.goal_nodes]
            out.append("    end")
        out.append("end")
        return out + self.edges

    # ---------------------------------------------------------- steps

    def block(self, steps: Sequence[A.Step], ends: list[End], path: str) -> list[End]:
        for k, step in enumerate(steps, start=1):
            ends = self.step(step, ends, f"{path}{k}")
        return ends

    def step(self, s: A.Step, ends: list[End], path: str) -> list[End]:
        match s:
            case A.If():
                return self._if(s, ends, path)
            case A.Split():
                return self._split(s, ends, path)
            case A.Repeat():
                return self._repeat(s, ends, path)
            case A.WaitEvent():
                nid = self.node(path, "wait", label(f"wait until {condition(s.condition)}",
                                                    f"or {duration(s.timeout)}"))
                self.join(ends, nid)
                return [(nid, condition(s.condition)), (nid, f"after {duration(s.timeout)}")]
            case A.ExitStep():
                text = f"exit: {s.reason}" if s.reason else "exit"
                self.join(ends, self.node(path, "stop", label(text)))
                return []
            case A.Send():
                key = f"step_{s.name}" if s.name else path
                nid = self.node(key, "send", label(*send_lines(s)))
            case A.WaitFor():
                nid = self.node(path, "wait", label(f"wait {duration(s.duration)}"))
            case A.WaitUntil():
                nid = self.node(path, "wait", label(f"wait until {operand(s.date)}"))
            case A.SetAttr():
                nid = self.node(path, "change", label(f"set {s.name} to {operand(s.value)}"))
            case A.TagStep():
                verb = "add" if s.add else "remove"
                nid = self.node(path, "change", label(f"{verb} tag {quote(s.tag)}"))
            case A.Notify():
                who = (f"team {s.team}" if not s.owner else
                       "owner" + (f" or team {s.team}" if s.team else ""))
                nid = self.node(path, "notify", label(f"notify {who}", self._team(s.team),
                                                      s.template))
            case A.Handoff():
                nid = self.node(path, "sales", label(*self._handoff_lines(s)))
            case _:
                assert_never(s)
        self.join(ends, nid)
        return [(nid, None)]

    def _team(self, team: str | None) -> str:
        return self.labels.teams.get(team, "") if team else ""

    def _handoff_lines(self, s: A.Handoff) -> list[str]:
        lines = [f"handoff to {s.team}", self._team(s.team)]
        if s.priority:
            lines.append(f"by {s.priority} priority")
        if s.per_day is not None:
            lines.append(f"at most {s.per_day} per day")
        return lines

    def _if(self, s: A.If, ends: list[End], path: str) -> list[End]:
        out: list[End] = []
        for k, branch in enumerate(s.branches, start=1):
            word = "if" if k == 1 else "else if"
            decision = self.node(f"{path}_if{k}", "decision", label(
                f"{word} {condition(branch.condition)}", *self._segments(branch.condition)))
            self.join(ends, decision)
            out += self.block(branch.steps, [(decision, "yes")], f"{path}_b{k}_")
            ends = [(decision, "no")]
        if s.otherwise is not None:
            out += self.block(s.otherwise, ends, f"{path}_else_")
        else:
            out += ends
        return out

    def _split(self, s: A.Split, ends: list[End], path: str) -> list[End]:
        nid = self.node(f"step_{s.name}", "decision", label(f"split {s.name}"))
        self.join(ends, nid)
        out: list[End] = []
        for k, b in enumerate(s.branches, start=1):
            share = f"{b.name} {number(b.percent)}%"
            if b.steps is None:
                out.append((nid, f"{share} (holdout: gets nothing)"))
            else:
                out += self.block(b.steps, [(nid, share)], f"{path}_b{k}_")
        return out

    def _repeat(self, s: A.Repeat, ends: list[End], path: str) -> list[End]:
        limits = []
        if s.until is not None:
            limits.append(f"until {condition(s.until)}")
        if s.max_times is not None:
            limits.append(f"at most {s.max_times} times")
        nid = self.node(path, "repeat", label(f"repeat every {duration(s.every)}", *limits))
        self.join(ends, nid)
        body = self.block(s.steps, [(nid, "round")], f"{path}_r")
        for src, text in body:
            loop = f"{text}, " if text else ""
            self.edge(src, nid, f"{loop}next round in {duration(s.every)}")
        done = " or ".join(
            ([condition(s.until)] if s.until is not None else [])
            + ([f"after {s.max_times} rounds"] if s.max_times is not None else []))
        return [(nid, done or "never ends")]


# ------------------------------------------------------------------ helpers


def schedule(s: A.Schedule) -> str:
    zone = f" ({s.zone})" if s.zone else ""
    if s.kind == "cron":
        return f"schedule cron {s.cron}{zone}"
    if s.kind == "interval" and s.interval is not None:
        return f"schedule every {duration(s.interval)}{zone}"
    times = f" at {', '.join(s.times)}" if s.times else ""
    return f"schedule every {', '.join(s.days)}{times}{zone}"


def send_lines(s: A.Send) -> list[str]:
    head = f"send {s.name}" if s.name else "send"
    lines = [f"{head}: next of" if s.series else head, *s.templates]
    if s.sender is not None:
        if s.sender.owner:
            fallback = f" or {s.sender.address}" if s.sender.address else ""
            lines.append(f"from owner{fallback}")
        else:
            lines.append(f"from {s.sender.address}")
    return lines


def segment_refs(c: A.Condition) -> Iterable[str]:
    match c:
        case A.And() | A.Or():
            for item in c.items:
                yield from segment_refs(item)
        case A.Not():
            yield from segment_refs(c.item)
        case A.SegmentRef():
            yield c.name
        case _:
            return


# ------------------------------------------------------------------ files


def render_flows(flows: Sequence[A.Flow], labels: Labels | None = None,
                 source: str | None = None) -> str:
    """The Mermaid text for ``flows`` (raw, starting with ``flowchart TD``)."""
    labels = labels or Labels()
    lines = ["flowchart TD"]
    if source:
        lines.append(f"    %% engine graph {' '.join(source.split())}")
    taken: set[str] = set()
    for flow in flows:
        lines += [f"    {line}" for line in FlowGraph(flow, labels, taken).build()]
    lines += [f"    {c}" for c in CLASSES]
    return "\n".join(lines) + "\n"


def fence(text: str) -> str:
    return f"```mermaid\n{text}```\n"


def flows_of(module: A.Module) -> list[A.Flow]:
    return [i for i in module.items if isinstance(i, A.Flow)]


def render_module(module: A.Module, modules: Iterable[A.Module] = ()) -> str:
    """``module``'s flows, labelled with the definitions of ``modules`` (its folder)."""
    return render_flows(flows_of(module), Labels.of([module, *modules]),
                        Path(module.path).name)

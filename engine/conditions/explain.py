"""Why a condition holds or not for one lead: a tree of every sub-condition with its truth and
the actual values it read, and every score broken down into the events that made it.

    tree = explain_condition(condition, lead, events, at, ctx)
    tree.value, tree.text, tree.facts, tree.children, tree.scores

Truth comes from the reference interpreter (the same oracle the SQL is tested against), so the
explanation can never disagree with what the engine decides. ``explain_flow`` does it for a flow's
entry, exit and goal conditions and the policy's ``never email when`` rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsl import ast as A
from dsl import formatter
from engine.conditions import model as M
from engine.conditions.model import Context, Event
from engine.conditions.reference import Interpreter
from engine.conditions.scores import Breakdown
from engine.conditions.values import did_matches, entered, event_matches

SHOWN_EVENTS = 5


@dataclass
class Node:
    text: str
    value: bool
    facts: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    scores: list[str] = field(default_factory=list)  # names of scores read here

    def to_json(self) -> dict[str, Any]:
        return {"condition": self.text, "value": self.value, "facts": self.facts,
                "scores": self.scores, "children": [c.to_json() for c in self.children]}


@dataclass
class Section:
    """One condition of a flow (or policy), labelled: ``enter when``, ``exit when``..."""

    label: str
    node: Node


@dataclass
class FlowExplanation:
    flow: str
    title: str | None
    sections: list[Section]


def show_value(value: object) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return formatter.quote(value)
    if isinstance(value, float):
        return f"{value:.4g}" if not value.is_integer() else str(int(value))
    return str(value)


def show_time(at: dt.datetime) -> str:
    return M.utc(at).strftime("%Y-%m-%d %H:%M:%S")


def event_label(e: Event) -> str:
    """``page view (url "/pricing")``: the kind and the properties it has."""
    props = ", ".join(f"{k} {formatter.quote(v)}" for k, v in e.props.items() if v is not None)
    return e.type.replace("_", " ") + (f" ({props})" if props else "")


def show_event(e: Event) -> str:
    label = event_label(e)
    kind, _, props = label.partition(" (")
    return f"{kind} at {show_time(e.at)}" + (f" ({props}" if props else "")


class Explainer:
    def __init__(self, interp: Interpreter) -> None:
        self.it = interp
        self.ctx = interp.ctx

    def node(self, c: A.Condition) -> Node:
        out = Node(formatter.condition(c), self.it.holds(c))
        match c:
            case A.And(items=items) | A.Or(items=items):
                out.children = [self.node(i) for i in items]
            case A.Not(item=item):
                out.children = [self.node(item)]
            case A.SegmentRef(name=name):
                out.text = f"segment {name}"
                out.children = [self.node(self.ctx.segment(name))]
            case A.GoalRef():
                out.children = [self.node(self.ctx.goal())]
            case A.Compare(left=left, right=right):
                self.operands(out, (left, right))
            case A.InList(left=left) | A.TextMatch(left=left) | A.Known(left=left) \
                    | A.DateWindow(left=left):
                self.operands(out, (left,))
                if isinstance(c, A.DateWindow):
                    out.facts.append(f"today = {self.it.today.isoformat()}")
            case A.Count(event=em, window=window):
                self.events(out, [e for e in self.it.in_window(window)
                                  if event_matches(e, em, self.ctx)], window)
            case A.Did(window=window):
                self.events(out, [e for e in self.it.in_window(window)
                                  if did_matches(e, c, self.ctx,
                                                 entered(self.it.lead, self.ctx))], window)
            case A.LastEvent(event=em, duration=duration):
                found = [e for e in self.it.in_window(None) if event_matches(e, em, self.ctx)]
                cutoff = self.it.at - M.span(duration)
                out.facts.append(f"cut-off {show_time(cutoff)}")
                self.events(out, found, None)
        return out

    def operands(self, out: Node, ops: Sequence[A.Operand]) -> None:
        for op in ops:
            base = op
            while isinstance(base, A.Shift):
                base = base.base
            if isinstance(base, A.Today):
                continue
            if not isinstance(base, A.Name):
                continue
            kind = self.ctx.symbols.kind_of(base.name)
            if kind == "attribute":
                out.facts.append(f"{base.name} = {show_value(self.it.value(base).value)}")
            elif kind == "tier":
                tier = self.ctx.symbols.tiers[base.name]
                source = self.it.value(A.Name(tier.source)).value
                out.facts.append(f"{base.name} = {self.it.tier(base.name) or 'unknown'} "
                                 f"(from {tier.source} = {show_value(source)})")
            elif kind == "score":
                out.facts.append(f"{base.name} = {show_value(self.it.score(base.name).total)}")
                out.scores.append(base.name)
            if base is not op:
                out.facts.append(f"{formatter.operand(op)} = "
                                 f"{show_value(self.it.value(op, peer='date').value)}")

    def events(self, out: Node, found: list[Event], window: A.Duration | None) -> None:
        where = f" in the last {formatter.duration(window)}" if window else ""
        out.facts.append(f"{len(found)} matching event{'s' if len(found) != 1 else ''}{where}")
        latest = sorted(found, key=lambda e: M.utc(e.at), reverse=True)
        out.facts += [show_event(e) for e in latest[:SHOWN_EVENTS]]
        if len(found) > SHOWN_EVENTS:
            out.facts.append(f"... and {len(found) - SHOWN_EVENTS} more")


def explain_condition(condition: A.Condition, lead: Mapping[str, Any], events: Sequence[Event],
                      at: dt.datetime, ctx: Context) -> Node:
    return Explainer(Interpreter(lead, events, at, ctx)).node(condition)


def explain_flow(flow: A.Flow, lead: Mapping[str, Any], events: Sequence[Event],
                 at: dt.datetime, ctx: Context) -> FlowExplanation:
    """Entry (``enter when`` / ``enter on``), exit and goal conditions, and the policy's
    ``never email when`` rules, each explained for this lead at T."""
    ex = Explainer(Interpreter(lead, events, at, ctx.for_flow(flow)))
    sections: list[Section] = []
    for item in flow.items:
        if isinstance(item, A.EnterWhen):
            sections.append(Section("enter when", ex.node(item.condition)))
        elif isinstance(item, A.EnterOn):
            trigger = A.Count("at least", 1, item.event)
            sections.append(Section("enter on", ex.node(trigger)))
            if item.condition is not None:
                sections.append(Section("enter on ... when", ex.node(item.condition)))
        elif isinstance(item, A.ExitWhen):
            sections.append(Section("exit when", ex.node(item.condition)))
        elif isinstance(item, A.GoalWhen):
            sections.append(Section("goal when", ex.node(item.condition)))
    for policy in ctx.symbols.policies:
        for line in policy.lines:
            if isinstance(line, A.NeverEmail):
                sections.append(Section("policy: never email when", ex.node(line.condition)))
    return FlowExplanation(flow.name, flow.title, sections)


def scores_read(node: Node) -> list[str]:
    """Every score the tree read, in order of first mention."""
    out: dict[str, None] = dict.fromkeys(node.scores)
    for child in node.children:
        out.update(dict.fromkeys(scores_read(child)))
    return list(out)


def score_breakdown(name: str, lead: Mapping[str, Any], events: Sequence[Event],
                    at: dt.datetime, ctx: Context) -> Breakdown:
    return Interpreter(lead, events, at, ctx).score(name)

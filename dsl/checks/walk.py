"""Finding things in the syntax tree: every node, every condition with where it sits, spans.

All walks are iterative (no recursion limit to hit, whatever the parser let through).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dsl import ast as A

LEAF_CONDITIONS = (A.Compare, A.InList, A.TextMatch, A.Known, A.DateWindow, A.Count, A.Did,
                   A.LastEvent, A.SegmentRef, A.GoalRef)


def nodes(root: object) -> Iterator[object]:
    """Every AST node under ``root`` (itself included), in document order."""
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(reversed(node))
            continue
        if not dataclasses.is_dataclass(node) or isinstance(node, A.Span | type):
            continue
        yield node
        children = [getattr(node, f.name) for f in dataclasses.fields(node) if f.name != "span"]
        stack.extend(reversed(children))


def leaves(cond: A.Condition) -> Iterator[A.Condition]:
    """The comparisons and behaviours of a condition, through and / or / not."""
    stack: list[A.Condition] = [cond]
    while stack:
        c = stack.pop()
        if isinstance(c, A.And | A.Or):
            stack.extend(reversed(c.items))
        elif isinstance(c, A.Not):
            stack.append(c.item)
        else:
            yield c


@dataclass(frozen=True, slots=True)
class Site:
    """Where a condition sits: its file, its flow (``None`` for shared definitions), whether it
    is a flow setting (enter / exit / goal) rather than a step, and what owns it, in words."""

    file: str
    flow: A.Flow | None
    setting: bool
    owner: str
    node: object


def _flow_conditions(flow: A.Flow, file: str) -> Iterator[tuple[A.Condition, Site]]:
    where = f"flow `{flow.name}`"
    for item in flow.items:
        if isinstance(item, A.EnterWhen | A.ExitWhen | A.GoalWhen):
            yield item.condition, Site(file, flow, True, where, item)
        elif isinstance(item, A.EnterOn) and item.condition is not None:
            yield item.condition, Site(file, flow, True, where, item)
    for node in nodes(tuple(i for i in flow.items if not isinstance(i, A.EnterWhen | A.ExitWhen
                                                                     | A.GoalWhen | A.EnterOn))):
        if isinstance(node, A.Branch):
            yield node.condition, Site(file, flow, False, where, node)
        elif isinstance(node, A.WaitEvent):
            yield node.condition, Site(file, flow, False, where, node)
        elif isinstance(node, A.Repeat) and node.until is not None:
            yield node.until, Site(file, flow, False, where, node)


def conditions(modules: Sequence[A.Module]) -> Iterator[tuple[A.Condition, Site]]:
    """Every top-level condition in the folder, with its site."""
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Segment):
                yield item.condition, Site(m.path, None, False, f"segment `{item.name}`", item)
            elif isinstance(item, A.Score):
                for line in item.lines:
                    if isinstance(line, A.WhenPoints):
                        yield line.condition, Site(m.path, None, False,
                                                   f"score `{item.name}`", line)
            elif isinstance(item, A.Priority):
                for rule in item.rules:
                    if rule.condition is not None:
                        yield rule.condition, Site(m.path, None, False,
                                                   f"priority `{item.name}`", rule)
            elif isinstance(item, A.Policy):
                for pl in item.lines:
                    if isinstance(pl, A.NeverEmail):
                        yield pl.condition, Site(m.path, None, False, "the policy", pl)
            elif isinstance(item, A.Flow):
                yield from _flow_conditions(item, m.path)


def leaf_sites(modules: Sequence[A.Module]) -> Iterator[tuple[A.Condition, Site]]:
    """Every comparison and behaviour in the folder, with the site of its condition."""
    for cond, site in conditions(modules):
        for leaf in leaves(cond):
            yield leaf, site


def items_with_flow(modules: Sequence[A.Module]) -> Iterator[tuple[object, A.Flow | None, str]]:
    """Every node in the folder with its flow (``None`` outside flows) and its file."""
    for m in modules:
        for item in m.items:
            flow = item if isinstance(item, A.Flow) else None
            for node in nodes(item):
                yield node, flow, m.path


# ---------------------------------------------------------------- spans


def first_line(span: A.Span) -> A.Span:
    """A statement's span ends on the next line (it takes its newline); keep the caret short."""
    return A.Span(span.file, span.line, span.column, span.line, span.column + 1)


def word_span(span: A.Span, skip: int, word: str) -> A.Span:
    """The span of ``word``, ``skip`` characters after the start of ``span``.

    Statements keep no span for their names, so this assumes the canonical single spaces of
    ``engine fmt``; only the caret's position depends on it."""
    col = span.column + skip
    return A.Span(span.file, span.line, col, span.line, col + max(len(word), 1))


def quote(text: str) -> str:
    """A text in double quotes, escaped as the flow language writes it (one line, always)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def operand_text(op: A.Operand) -> str:
    """An operand as the user wrote it (near enough for a message)."""
    if isinstance(op, A.Str):
        return quote(op.value)
    if isinstance(op, A.Num):
        return str(op.value)
    if isinstance(op, A.Name):
        return op.name
    if isinstance(op, A.Today):
        return "today"
    if isinstance(op, A.Shift):
        d = op.duration
        unit = d.unit if d.amount == 1 else d.unit + "s"
        return f"{operand_text(op.base)} {op.sign} {d.amount} {unit}"
    return "?"

"""Finding things in the syntax tree: every node, every condition with where it sits, spans.

All walks are iterative (no recursion limit to hit, whatever the parser let through).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from dsl import ast as A
from dsl.diagnostics import Diagnostic

LEAF_CONDITIONS = (A.Compare, A.InList, A.TextMatch, A.Known, A.DateWindow, A.Count, A.Did,
                   A.LastEvent, A.SegmentRef, A.GoalRef)


_FIELDS: dict[type, tuple[str, ...] | None] = {A.Span: None}


_PLAIN = frozenset({"str", "int", "float", "bool", "None", "tuple"})


def _holds_nodes(f: dataclasses.Field[object]) -> bool:
    """Whether a field may hold AST nodes (its annotation names more than plain values)."""
    words = re.findall(r"[A-Za-z_]+", str(f.type))
    return f.name != "span" and not set(words) <= _PLAIN


def _fields(cls: type) -> tuple[str, ...] | None:
    """The fields of an AST node class that may hold nodes (``None``: not a node class)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = (tuple(f.name for f in dataclasses.fields(cls) if _holds_nodes(f))
                        if dataclasses.is_dataclass(cls) else None)
    return _FIELDS[cls]


def nodes(root: object) -> Iterator[object]:
    """Every AST node under ``root`` (itself included), in document order."""
    yield from node_list(root)


def node_list(root: object) -> list[object]:
    """``list(nodes(root))``, built in one loop (the index walks every node of a folder)."""
    out: list[object] = []
    stack: list[object] = [root]
    known = _FIELDS
    while stack:
        node = stack.pop()
        cls = type(node)
        if cls is tuple:
            stack.extend(node[::-1])  # type: ignore[index]
            continue
        names = known[cls] if cls in known else _fields(cls)
        if names is None:
            continue
        out.append(node)
        if names:
            stack.extend([getattr(node, n) for n in names[::-1]])
    return out


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


SETTINGS = (A.EnterWhen, A.ExitWhen, A.GoalWhen)


def _flow_conditions(flow: A.Flow, file: str,
                     found: Iterable[object]) -> Iterator[tuple[A.Condition, Site]]:
    where = f"flow `{flow.name}`"
    for node in found:
        if isinstance(node, SETTINGS):
            yield node.condition, Site(file, flow, True, where, node)
        elif isinstance(node, A.EnterOn) and node.condition is not None:
            yield node.condition, Site(file, flow, True, where, node)
        elif isinstance(node, A.Branch | A.WaitEvent):
            yield node.condition, Site(file, flow, False, where, node)
        elif isinstance(node, A.Repeat) and node.until is not None:
            yield node.until, Site(file, flow, False, where, node)


def item_conditions(item: A.Item, file: str,
                    found: Iterable[object] | None = None) -> Iterator[tuple[A.Condition, Site]]:
    """The top-level conditions of one item of a file (``found``: its nodes, if walked)."""
    if isinstance(item, A.Segment):
        yield item.condition, Site(file, None, False, f"segment `{item.name}`", item)
    elif isinstance(item, A.Score):
        for line in item.lines:
            if isinstance(line, A.WhenPoints):
                yield line.condition, Site(file, None, False, f"score `{item.name}`", line)
    elif isinstance(item, A.Priority):
        for rule in item.rules:
            if rule.condition is not None:
                yield rule.condition, Site(file, None, False, f"priority `{item.name}`", rule)
    elif isinstance(item, A.Policy):
        for pl in item.lines:
            if isinstance(pl, A.NeverEmail):
                yield pl.condition, Site(file, None, False, "the policy", pl)
    elif isinstance(item, A.Flow):
        yield from _flow_conditions(item, file, nodes(item) if found is None else found)


def conditions(modules: Sequence[A.Module]) -> Iterator[tuple[A.Condition, Site]]:
    """Every top-level condition in the folder, with its site."""
    for m in modules:
        for item in m.items:
            yield from item_conditions(item, m.path)


def leaf_sites(modules: Sequence[A.Module]) -> Iterator[tuple[A.Condition, Site]]:
    """Every comparison and behaviour in the folder, with the site of its condition."""
    for cond, site in conditions(modules):
        for leaf in leaves(cond):
            yield leaf, site


Found = tuple[object, A.Flow | None, str]


@dataclass(frozen=True, slots=True)
class Index:
    """One walk of a folder, shared by the passes: every node with its flow (``None`` outside
    flows) and file, and every comparison or behaviour with its site."""

    nodes: tuple[Found, ...]
    leaves: tuple[tuple[A.Condition, Site], ...]
    places: dict[type, list[int]] = dataclasses.field(default_factory=dict)  # class -> indexes

    def of(self, *kinds: type) -> list[Found]:
        """The nodes of these classes, in document order (a pass that wants a few kinds of
        node need not look at all the others)."""
        if len(kinds) == 1:
            return [self.nodes[i] for i in self.places.get(kinds[0], ())]
        where = sorted(i for kind in kinds for i in self.places.get(kind, ()))
        return [self.nodes[i] for i in where]


_last: tuple[Sequence[A.Module], tuple[int, ...], Index] | None = None


def index(modules: Sequence[A.Module]) -> Index:
    """The folder's index, built once for the same modules (the last folder is remembered)."""
    global _last
    key = tuple(id(m) for m in modules)
    if _last is not None and _last[1] == key:
        return _last[2]
    found: list[Found] = []
    sites: list[tuple[A.Condition, Site]] = []
    for m in modules:
        for item in m.items:
            flow = item if isinstance(item, A.Flow) else None
            walked = node_list(item)
            path = m.path
            found.extend([(node, flow, path) for node in walked])
            for cond, site in item_conditions(item, m.path, walked):
                sites.extend((leaf, site) for leaf in leaves(cond))
    places: dict[type, list[int]] = {}
    for i, (node, _flow, _path) in enumerate(found):
        places.setdefault(type(node), []).append(i)
    result = Index(tuple(found), tuple(sites), places)
    _last = (list(modules), key, result)  # holding the modules keeps their ids unique
    return result


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters (a newline in a template name...) shown escaped, so every message
    stays on its line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def tidy(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of a pass, each message, hint and note on one line."""
    out = []
    for d in diags:
        hint = one_line(d.hint) if d.hint is not None else None
        out.append(dataclasses.replace(d, message=one_line(d.message), hint=hint,
                                       notes=tuple(one_line(n) for n in d.notes)))
    return out



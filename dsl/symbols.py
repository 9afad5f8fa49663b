"""The symbol table of a folder: every name its flow files define, with where it was defined.

Definitions are shared by all files of a folder, so the table is built from all modules at once::

    table = symbols.build(modules)
    table.kind_of("size"), table.type_of("employees")  # "tier", "number"
    table.categories("size")                            # ("smb", "midsize", "enterprise")
    table.event_kind(("webinar", "registrations"))      # "webinar_registration" (custom)
    symbols.flow_steps(flow)                            # send and split steps, in order

Building never fails and never judges: the first definition of a name wins and every later one
is kept in ``duplicates`` for the checker to report. Core attributes (``schema.CORE_ATTRIBUTES``)
have ``span == NO_SPAN``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from dsl import ast as A
from dsl import schema

# The kinds of named definitions; all share one namespace (a name means one thing in a folder).
ATTRIBUTE, TIER, SCORE, SEGMENT, PRIORITY, TEAM, FLOW = (
    "attribute", "tier", "score", "segment", "priority", "team", "flow")
# What a tier's value is: one of its category names (not a text, not ordered).
CATEGORY = "category"


@dataclass(frozen=True, slots=True)
class Attribute:
    """A core or declared attribute. ``type`` is as declared (may be an unknown word; the type
    checker reports it); ``values`` are the ``one of (...)`` operands, ``None`` when open."""

    name: str
    type: str
    values: tuple[A.Operand, ...] | None = None
    core: bool = False
    span: A.Span = A.NO_SPAN

    @property
    def literal_values(self) -> tuple[str | int | float, ...] | None:
        """The allowed values as Python values (texts and numbers only)."""
        if self.values is None:
            return None
        return tuple(v.value for v in self.values if isinstance(v, A.Str | A.Num))


@dataclass(frozen=True, slots=True)
class Definition:
    """One named definition: its kind, name, node and span (the node's span)."""

    kind: str
    name: str
    node: object
    span: A.Span


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A later definition of a name already defined (by the same kind or another)."""

    later: Definition
    first: Definition


@dataclass(frozen=True, slots=True)
class CustomEvent:
    """A kind declared in ``events:``: ``webinar registration`` -> ``webinar_registration``."""

    phrase: str
    kind: str
    span: A.Span


@dataclass
class Symbols:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    tiers: dict[str, A.Tier] = field(default_factory=dict)
    scores: dict[str, A.Score] = field(default_factory=dict)
    segments: dict[str, A.Segment] = field(default_factory=dict)
    priorities: dict[str, A.Priority] = field(default_factory=dict)
    teams: dict[str, A.Team] = field(default_factory=dict)
    flows: dict[str, A.Flow] = field(default_factory=dict)
    # every name -> its first definition (core attributes included, with NO_SPAN)
    definitions: dict[str, Definition] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    # `attributes:` lines that redeclare a core attribute with another type (not in `attributes`)
    core_conflicts: list[A.AttributeDecl] = field(default_factory=list)
    # custom event phrases (singular and plural) -> declaration; built-in clashes listed apart
    events: dict[str, CustomEvent] = field(default_factory=dict)
    event_clashes: list[tuple[A.EventDecl, str]] = field(default_factory=list)  # (decl, found)
    policies: list[A.Policy] = field(default_factory=list)

    # ------------------------------------------------------------ lookups

    def kind_of(self, name: str) -> str | None:
        """``"attribute"``, ``"tier"``, ... or ``None`` when the name is not defined."""
        d = self.definitions.get(name)
        return d.kind if d else None

    def span_of(self, name: str) -> A.Span:
        d = self.definitions.get(name)
        return d.span if d else A.NO_SPAN

    def type_of(self, name: str) -> str | None:
        """The value type of a name usable in a comparison: an attribute's type, ``"number"``
        for a score, ``"category"`` for a tier; ``None`` for anything else."""
        kind = self.kind_of(name)
        if kind == ATTRIBUTE:
            return self.attributes[name].type
        if kind == SCORE:
            return "number"
        if kind == TIER:
            return CATEGORY
        return None

    def categories(self, tier: str) -> tuple[str, ...]:
        t = self.tiers.get(tier)
        if t is None:
            return ()
        return tuple(dict.fromkeys(e.name for e in t.entries))

    def value_names(self) -> list[str]:
        """Names that may stand where a value is compared: attributes, tiers, scores."""
        return [*self.attributes, *self.tiers, *self.scores]

    def condition_names(self) -> list[str]:
        """Names a condition may mention: the value names and the segments."""
        return [*self.value_names(), *self.segments]

    def custom_kinds(self) -> dict[str, str]:
        """Custom phrase -> canonical kind, the shape ``schema.event_kind`` takes."""
        return {p: e.kind for p, e in self.events.items()}

    def event_kind(self, words: tuple[str, ...]) -> str | None:
        """The canonical kind of an event phrase (built-in or custom), or ``None``."""
        return schema.event_kind(words, self.custom_kinds())

    def event_phrases(self) -> list[str]:
        """Every phrase that names a kind of event, for "did you mean"."""
        return [*schema.phrase_to_kind(), *self.events]


# ---------------------------------------------------------------- building


def _define(table: Symbols, d: Definition) -> bool:
    first = table.definitions.get(d.name)
    if first is not None:
        table.duplicates.append(Duplicate(d, first))
        return False
    table.definitions[d.name] = d
    return True


def _declare_attribute(table: Symbols, decl: A.AttributeDecl) -> None:
    core = schema.CORE_ATTRIBUTES.get(decl.name)
    d = Definition(ATTRIBUTE, decl.name, decl, decl.span)
    if core is not None:
        if decl.type != core:
            table.core_conflicts.append(decl)
            return
        if table.attributes[decl.name].span == A.NO_SPAN:  # a core attribute, narrowed once
            table.attributes[decl.name] = Attribute(decl.name, core, decl.values, True, decl.span)
            table.definitions[decl.name] = d
            return
    if _define(table, d):
        table.attributes[decl.name] = Attribute(decl.name, decl.type, decl.values, False,
                                                decl.span)


def _declare_events(table: Symbols, decl: A.EventDecl) -> None:
    phrase = " ".join(w.lower() for w in decl.words)
    if not phrase:
        return
    builtin = schema.event_kind(decl.words)
    if builtin is not None:
        table.event_clashes.append((decl, builtin))
        return
    kind = "_".join(w.lower() for w in decl.words)
    plural = phrase if phrase.endswith("s") else phrase + "s"
    if phrase in table.events:
        table.event_clashes.append((decl, table.events[phrase].kind))
        return
    event = CustomEvent(phrase, kind, decl.span)
    table.events[phrase] = event
    table.events.setdefault(plural, event)


_KINDS: dict[type, tuple[str, str]] = {
    A.Tier: (TIER, "tiers"), A.Score: (SCORE, "scores"), A.Segment: (SEGMENT, "segments"),
    A.Priority: (PRIORITY, "priorities"), A.Team: (TEAM, "teams"), A.Flow: (FLOW, "flows"),
}
_last: tuple[list[A.Module], tuple[int, ...], Symbols] | None = None


def build(modules: Sequence[A.Module]) -> Symbols:
    """The table of all definitions of a folder's modules; the last one is remembered, as every
    pass asks for it, so treat it as read-only."""
    global _last
    key = tuple(id(m) for m in modules)
    if _last is not None and _last[1] == key:
        return _last[2]
    table = _build(modules)
    _last = (list(modules), key, table)  # holding the modules keeps their ids unique
    return table


def _build(modules: Sequence[A.Module]) -> Symbols:
    table = Symbols()
    for name, type_ in schema.CORE_ATTRIBUTES.items():
        table.attributes[name] = Attribute(name, type_, None, True)
        table.definitions[name] = Definition(ATTRIBUTE, name, None, A.NO_SPAN)
    for module in modules:
        for item in module.items:
            if isinstance(item, A.Attributes):
                for decl in item.decls:
                    _declare_attribute(table, decl)
            elif isinstance(item, A.Events):
                for edecl in item.decls:
                    _declare_events(table, edecl)
            elif isinstance(item, A.Policy):
                table.policies.append(item)
            elif type(item) in _KINDS:
                kind, attr = _KINDS[type(item)]
                name = item.name  # type: ignore[union-attr]
                if _define(table, Definition(kind, name, item, item.span)):
                    getattr(table, attr)[name] = item
    return table


# ---------------------------------------------------------------- steps of a flow


@dataclass(frozen=True, slots=True)
class StepInfo:
    """A send or split step: its name, document-order index and enclosing nodes.

    ``parents`` are the enclosing nodes, outermost first: ``If`` / ``Branch`` (an ``if`` or
    ``else if`` branch) / ``SplitBranch`` / ``Split`` / ``Repeat`` / ``OnGoal``; an ``else`` block
    is marked by its ``If`` alone. ``in_on_goal`` is true inside the ``on goal:`` block.
    """

    name: str
    step: A.Send | A.Split
    index: int
    parents: tuple[object, ...]

    @property
    def span(self) -> A.Span:
        return self.step.span

    @property
    def in_on_goal(self) -> bool:
        return any(isinstance(p, A.OnGoal) for p in self.parents)


def walk_steps(flow: A.Flow) -> Iterator[tuple[A.Step, tuple[object, ...]]]:
    """Every step of a flow in document order, nested ones included, with its parents."""

    def steps(block: Sequence[A.Step], parents: tuple[object, ...]) -> Iterator[
            tuple[A.Step, tuple[object, ...]]]:
        for step in block:
            yield step, parents
            inner = (*parents, step)
            if isinstance(step, A.If):
                for branch in step.branches:
                    yield from steps(branch.steps, (*inner, branch))
                if step.otherwise is not None:
                    yield from steps(step.otherwise, inner)
            elif isinstance(step, A.Split):
                for sb in step.branches:
                    yield from steps(sb.steps or (), (*inner, sb))
            elif isinstance(step, A.Repeat):
                yield from steps(step.steps, inner)

    for item in flow.items:
        if isinstance(item, A.OnGoal):
            yield from steps(item.steps, (item,))
        elif isinstance(item, A.Step):  # type: ignore[misc,arg-type]
            yield from steps((item,), ())  # type: ignore[arg-type]


def flow_steps(flow: A.Flow) -> list[StepInfo]:
    """The send and split steps of a flow, in document order (sends named by ``step_name``)."""
    out: list[StepInfo] = []
    for step, parents in walk_steps(flow):
        if isinstance(step, A.Send):
            out.append(StepInfo(step.step_name, step, len(out), parents))
        elif isinstance(step, A.Split):
            out.append(StepInfo(step.name, step, len(out), parents))
    return out


def before(a: A.Span, b: A.Span) -> bool:
    """Whether span ``a`` starts before span ``b`` in the same file (document order)."""
    return (a.line, a.column) < (b.line, b.column)

"""Can a condition ever be true? Conditions are two-valued (a comparison with an unknown value is
false, ``not`` of it true), so negations push down to atoms and a condition becomes a bounded
disjunction of conjunctions of literals. A conjunction is impossible when the items its literals
put on one subject leave no value; a condition is never true when all its conjunctions are.

Sound by construction: every step over-approximates, and anything not understood says nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from dsl import ast as A
from dsl.diagnostics import did_you_mean
from dsl.formatter import quote
from dsl.logic.atoms import Item, Subject, declared_item, literal_items
from dsl.logic.facts import Facts
from dsl.logic.sets import ANY, Values

MAX_CONJUNCTS = 64
MAX_SEGMENT_DEPTH = 8

Literal = tuple[A.Condition, bool, str | None]  # (atom, negated, segment it came from)
Conjunct = tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    """Why a conjunction is impossible: these items (declarations first) leave no value."""

    subject: Subject
    items: tuple[Item, ...]

    def note(self) -> str:
        labels = [i.label for i in self.items]
        if len(labels) == 1:
            return f"{labels[0]} can never be true"
        if any(i.declared for i in self.items) and len(labels) == 2:
            return f"{labels[0]}, so {labels[1]} can never be true"
        joined = ", ".join(labels[:-1]) + " and " + labels[-1]
        both = "both" if len(labels) == 2 else "all"
        return f"{joined} cannot {both} be true"

    def hint(self) -> str | None:
        """``did you mean "customer"?`` when a literal is not among the declared values."""
        decl = next((i for i in self.items if i.declared and i.subject[0] == "attr"), None)
        if decl is None or not decl.values.text.only:
            return None
        allowed = decl.values.text.only
        for item in self.items:
            for lit in _strings(item.node):
                if lit not in allowed:
                    return did_you_mean(quote(lit), [quote(a) for a in allowed])
        return None


def _strings(node: A.Condition | None) -> list[str]:
    if isinstance(node, A.Compare) and isinstance(node.right, A.Str):
        return [node.right.value]
    if isinstance(node, A.InList) and not node.negated:
        return [v.value for v in node.values if isinstance(v, A.Str)]
    return []


class Reasoner:
    """Answers never-true questions about the conditions of one folder (with a cache)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._cache: dict[A.Condition, Conflict | None] = {}
        self._possible: set[A.Condition] = set()  # shown satisfiable: a conjunct is possible
        self._items: dict[tuple[A.Condition, bool], list[Item]] = {}
        self._declared: dict[Subject, Item | None] = {}

    # ------------------------------------------------------------ public questions

    def never_true(self, cond: A.Condition) -> Conflict | None:
        """A reason the condition can never be true, or None when it may be."""
        if cond in self._cache:
            return self._cache[cond]
        found: Conflict | None = None
        conjuncts = self.conjuncts(cond)
        if conjuncts and all(self.impossible(c) for c in conjuncts):
            found = self.conflict(conjuncts[0])
        elif conjuncts:
            self._possible.add(cond)
        self._cache[cond] = found
        return found

    def satisfiable(self, cond: A.Condition) -> bool:
        """Whether ``never_true`` found a conjunct of ``cond`` that some lead may satisfy. Then
        every comparison or behaviour that ``cond`` requires (an item of its ``and``) is
        satisfiable too: its items are a part of that conjunct's."""
        return cond in self._possible

    def always_true(self, cond: A.Condition) -> Conflict | None:
        return self.never_true(A.Not(cond))

    def conjuncts(self, cond: A.Condition) -> list[Conjunct] | None:
        """The condition as a disjunction of conjunctions of items, None when too large."""
        try:
            lits = self._dnf(cond, False, ())
        except RecursionError:  # deeper than any parser limit lets through; say nothing
            return None
        if lits is None:
            return None
        return [tuple(_via(i, seg) for atom, neg, seg in c for i in self._literal(atom, neg))
                for c in lits]

    def disjoint(self, a: list[Conjunct], b: list[Conjunct]) -> bool:
        """No lead satisfies both (each given as ``conjuncts``)."""
        return all(self.impossible(x + y) for x in a for y in b)

    def impossible(self, items: Conjunct) -> bool:
        """Whether no lead satisfies all the items (``conflict`` says why)."""
        acc: dict[Subject, Values] = {}
        for item in items:
            if item.subject not in acc:
                decl = self._declaration(item.subject)
                acc[item.subject] = decl.values if decl else ANY
            met = _meet(acc[item.subject], item.values)
            if _empty(met):
                return True
            acc[item.subject] = met
        return False

    def conflict(self, items: Conjunct) -> Conflict | None:
        groups: dict[Subject, list[Item]] = {}
        for item in items:
            groups.setdefault(item.subject, []).append(item)
        for subject, group in groups.items():
            decl = self._declaration(subject)
            acc = decl.values if decl else ANY
            for k, item in enumerate(group):
                acc = _meet(acc, item.values)
                if _empty(acc):
                    return _explain(subject, decl, group[:k], item)
        return None

    def _literal(self, atom: A.Condition, neg: bool) -> list[Item]:
        key = (atom, neg)
        if key not in self._items:
            self._items[key] = literal_items(atom, neg, self.facts)
        return self._items[key]

    def _declaration(self, subject: Subject) -> Item | None:
        if subject not in self._declared:
            self._declared[subject] = declared_item(subject, self.facts)
        return self._declared[subject]

    # ------------------------------------------------------------ normal forms

    def _dnf(self, c: A.Condition, neg: bool, seen: tuple[str, ...]) -> list[list[Literal]] | None:
        if isinstance(c, A.Not):
            return self._dnf(c.item, not neg, seen)
        if isinstance(c, A.And | A.Or):
            parts = [self._dnf(i, neg, seen) for i in c.items]
            if any(p is None for p in parts):
                return None
            if isinstance(c, A.And) != neg:  # a conjunction (And, or a negated Or)
                return _product([p for p in parts if p is not None])
            out = [conj for p in parts if p is not None for conj in p]
            return out if len(out) <= MAX_CONJUNCTS else None
        if isinstance(c, A.SegmentRef) and c.name in self.facts.segments:
            if c.name in seen or len(seen) >= MAX_SEGMENT_DEPTH:
                return [[]]  # a cycle is reported elsewhere; say nothing about it here
            return self._dnf(self.facts.segments[c.name], neg, (*seen, c.name))
        return [[(c, neg, seen[0] if seen else None)]]


def _via(item: Item, segment: str | None) -> Item:
    return item if segment is None else replace(item, label=f"{item.label} (segment `{segment}`)")


@functools.lru_cache(maxsize=1 << 16)
def _meet(a: Values, b: Values) -> Values:
    return a.intersect(b)


@functools.lru_cache(maxsize=1 << 16)
def _empty(v: Values) -> bool:
    return v.is_empty()


def _product(parts: list[list[list[Literal]]]) -> list[list[Literal]] | None:
    out: list[list[Literal]] = [[]]
    for p in parts:
        out = [a + b for a in out for b in p]
        if len(out) > MAX_CONJUNCTS:
            return None
    return out


def _explain(subject: Subject, decl: Item | None, earlier: list[Item], last: Item) -> Conflict:
    """The fewest items that show the conflict: the last one alone against the declaration,
    or with one earlier item, or else all of them."""
    if last.values.is_empty():
        return Conflict(subject, (last,))
    base: Values = decl.values if decl else ANY
    head = (decl,) if decl else ()
    if base.intersect(last.values).is_empty():
        return Conflict(subject, (*head, last))
    for e in earlier:
        if e.values.intersect(last.values).is_empty():
            return Conflict(subject, (e, last))
    for e in earlier:
        if base.intersect(e.values).intersect(last.values).is_empty():
            return Conflict(subject, (*head, e, last))
    return Conflict(subject, (*head, *earlier, last))

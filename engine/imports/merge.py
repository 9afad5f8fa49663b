"""Merge rules: which value a field keeps when a source brings another. Pure, no database.

The rules come from the flows' ``merge:`` block (``dsl.ast.MergeRule``)::

    stage, owner: prefer crm over import over web_form then newest
    owner: prefer crm then newest, blank overwrites
    title: newest wins

A field without a rule is ``newest wins``. How an incoming value (``source``, ``at``) meets the
stored one (value and provenance ``{source, at}``):

1. A blank incoming value changes nothing, unless the rule says ``blank overwrites``; then it
   competes like any value (a rep leaving clears ``owner`` in the CRM, and that blank wins).
2. A stored blank without provenance (never set by anyone) takes any incoming value.
3. ``prefer a over b ...``: a source earlier in the list beats a later one; a listed source beats
   an unlisted one. Between equals (the same source again, or two unlisted sources) the newer
   value wins when the rule says ``then newest``; without it the stored value stays, except that
   a source always may update its own value with a newer one.
4. ``newest wins``: the value with the later time wins; a tie goes to the incoming value.
5. An equal value changes nothing, not even the provenance (re-importing a file is a no-op),
   except that a strictly more trusted source takes it over, so a lower one cannot undo it later.

Times are the import's start, or the row's ``updated_at`` column when the file has one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dsl import ast as A

NEWEST = A.MergeRule(fields=(), sources=())  # the rule of a field without one


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where a value came from: provenance ``{"source": ..., "at": ISO-8601}``."""

    source: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "at": self.at.astimezone(UTC).isoformat()}

    @classmethod
    def from_json(cls, doc: object) -> Stamp | None:
        if not isinstance(doc, dict):
            return None
        source, at = doc.get("source"), doc.get("at")
        if not isinstance(source, str) or not isinstance(at, str):
            return None
        try:
            stamp = datetime.fromisoformat(at)
        except ValueError:
            return None
        return cls(source, stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC))


class Rules:
    """The merge rules of a folder of flows, by field."""

    def __init__(self, rules: Iterable[A.MergeRule] = ()) -> None:
        self.by_field: dict[str, A.MergeRule] = {}
        for rule in rules:
            for f in rule.fields:
                self.by_field.setdefault(f, rule)  # the checker reports a second rule (E0414)

    @classmethod
    def from_modules(cls, modules: Iterable[A.Module]) -> Rules:
        return cls(r for m in modules for item in m.items if isinstance(item, A.Merge)
                   for r in item.rules)

    def rule(self, field: str) -> A.MergeRule:
        return self.by_field.get(field, NEWEST)


def _rank(rule: A.MergeRule, source: str) -> int:
    try:
        return rule.sources.index(source)
    except ValueError:
        return len(rule.sources)


def _wins(rule: A.MergeRule, new: Stamp, old: Stamp) -> bool:
    """Would ``new`` replace a different value stamped ``old``?"""
    if rule.sources:
        a, b = _rank(rule, new.source), _rank(rule, old.source)
        if a != b:
            return a < b
        if new.source != old.source and not rule.then_newest:
            return False
    return new.at >= old.at


@dataclass(frozen=True, slots=True)
class Outcome:
    """``changed``: the value changes; ``stamp``: the provenance to store (``None``: keep)."""

    changed: bool
    value: Any
    stamp: Stamp | None


KEEP = Outcome(False, None, None)


def resolve(rule: A.MergeRule, old_value: Any, old_stamp: Stamp | None, new_value: Any,
            new_stamp: Stamp) -> Outcome:
    """The result of offering ``new_value`` for a field that holds ``old_value``."""
    if new_value is None and not rule.blank_overwrites:
        return KEEP
    if old_value is None and new_value is None:
        return KEEP
    if old_stamp is None:
        if old_value is None or new_value != old_value:
            return Outcome(True, new_value, new_stamp)
        return Outcome(False, old_value, new_stamp)  # first provenance for a value set by hand
    if new_value == old_value:
        better = bool(rule.sources) and _rank(rule, new_stamp.source) < _rank(
            rule, old_stamp.source)
        return Outcome(False, old_value, new_stamp) if better else KEEP
    if _wins(rule, new_stamp, old_stamp):
        return Outcome(True, new_value, new_stamp)
    return KEEP


def merge(rules: Rules, current: dict[str, Any], provenance: dict[str, Any],
          incoming: dict[str, Any], stamp: Stamp) -> tuple[dict[str, Any], dict[str, Any]]:
    """Offer every field of ``incoming`` (only columns the file has) to a lead.

    Returns the changed values and the changed provenance entries (both empty: nothing to do).
    """
    values: dict[str, Any] = {}
    stamps: dict[str, Any] = {}
    for field, new in incoming.items():
        out = resolve(rules.rule(field), current.get(field),
                      Stamp.from_json(provenance.get(field)), new, stamp)
        if out.changed:
            values[field] = out.value
        if out.stamp is not None:
            stamps[field] = out.stamp.to_json()
    return values, stamps

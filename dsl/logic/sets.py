"""Sets of values a lead's attribute (or score, count, ...) may take, for the never-true checks.

Every set here over-approximates the values that make a condition true: an empty set proves the
condition can never hold, a non-empty one proves nothing. Numbers are unions of intervals, texts
are "one of S" or "anything but N" narrowed by pattern tests, and ``Values`` puts the kinds
together with whether the value may be unknown (a comparison with an unknown value is false).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

INF = math.inf


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float
    hi: float
    lo_closed: bool = True
    hi_closed: bool = True

    def is_empty(self) -> bool:
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))

    def intersect(self, other: Interval) -> Interval:
        if self.lo != other.lo:
            lo, lo_closed = max((self.lo, self.lo_closed), (other.lo, other.lo_closed))
        else:
            lo, lo_closed = self.lo, self.lo_closed and other.lo_closed
        if self.hi != other.hi:
            hi, hi_closed = min((self.hi, self.hi_closed), (other.hi, other.hi_closed))
        else:
            hi, hi_closed = self.hi, self.hi_closed and other.hi_closed
        return Interval(lo, hi, lo_closed and lo != -INF, hi_closed and hi != INF)


def _num(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    return str(int(v)) if v.is_integer() else str(v)


def describe_interval(i: Interval) -> str:
    """In the words of a tier line: ``100``, ``2 to 99``, ``500 and above``, ``below 2``."""
    if i.lo == i.hi:
        return _num(i.lo)
    if i.hi == INF:
        return f"{_num(i.lo)} and above" if i.lo_closed else f"more than {_num(i.lo)}"
    if i.lo == -INF:
        return f"below {_num(i.hi)}" if not i.hi_closed else f"{_num(i.hi)} or less"
    if i.lo_closed and i.hi_closed:
        return f"{_num(i.lo)} to {_num(i.hi)}"
    return f"between {_num(i.lo)} and {_num(i.hi)}"


@dataclass(frozen=True, slots=True)
class NumSet:
    """A union of disjoint intervals, sorted."""

    parts: tuple[Interval, ...]

    @staticmethod
    def of(*parts: Interval) -> NumSet:
        return NumSet(()).union(NumSet(tuple(p for p in parts if not p.is_empty())))

    @staticmethod
    def point(v: float) -> NumSet:
        return NumSet((Interval(v, v),))

    @staticmethod
    def compare(op: str, v: float) -> NumSet:
        """The numbers ``x`` with ``x op v``."""
        table = {
            "=": Interval(v, v), "<": Interval(-INF, v, False, False),
            "<=": Interval(-INF, v, False, True), ">": Interval(v, INF, False, False),
            ">=": Interval(v, INF, True, False),
        }
        if op == "!=":
            return NumSet.point(v).complement()
        return NumSet.of(table[op])

    def is_empty(self) -> bool:
        return not self.parts

    def intersect(self, other: NumSet) -> NumSet:
        out = [a.intersect(b) for a in self.parts for b in other.parts]
        return NumSet(tuple(sorted((i for i in out if not i.is_empty()), key=_start)))

    def union(self, other: NumSet) -> NumSet:
        merged: list[Interval] = []
        for i in sorted(self.parts + other.parts, key=_start):
            if merged and _touches(merged[-1], i):
                last = merged[-1]
                if (i.hi, i.hi_closed) > (last.hi, last.hi_closed):
                    merged[-1] = Interval(last.lo, i.hi, last.lo_closed, i.hi_closed)
            else:
                merged.append(i)
        return NumSet(tuple(merged))

    def complement(self) -> NumSet:
        out: list[Interval] = []
        lo, lo_closed = -INF, False
        for i in self.parts:
            out.append(Interval(lo, i.lo, lo_closed, not i.lo_closed))
            lo, lo_closed = i.hi, not i.hi_closed
        out.append(Interval(lo, INF, lo_closed, False))
        return NumSet(tuple(i for i in out if not i.is_empty() and not _is_inf_point(i)))

    def describe(self) -> str:
        return " or ".join(describe_interval(i) for i in self.parts) or "nothing"


def _start(i: Interval) -> tuple[float, bool]:
    return (i.lo, not i.lo_closed)


def _touches(a: Interval, b: Interval) -> bool:
    return b.lo < a.hi or (b.lo == a.hi and (a.hi_closed or b.lo_closed))


def _is_inf_point(i: Interval) -> bool:
    return i.lo == i.hi and math.isinf(i.lo)


ALL_NUMBERS = NumSet((Interval(-INF, INF, False, False),))
NO_NUMBERS = NumSet(())


# ---------------------------------------------------------------- texts

def may_match(op: str, pattern: str, value: str, exact: bool = False) -> bool:
    """Whether ``value op pattern`` can hold; ``exact`` asks whether it holds case-sensitively
    (which then holds case-insensitively too), otherwise either way of matching will do."""
    forms = [(pattern, value)] if exact else [(pattern, value), (pattern.lower(), value.lower())]
    for p, v in forms:
        if op == "contains" and p in v:
            return True
        if op == "starts with" and v.startswith(p):
            return True
        if op == "ends with" and v.endswith(p):
            return True
        if op == "matches":
            rx = "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", p))
            if re.fullmatch(rx, v, re.DOTALL):
                return True
    return False


@dataclass(frozen=True, slots=True)
class PatternTest:
    """The value matches (or, ``negated``, matches none of) ``patterns`` by ``op``."""

    op: str
    patterns: tuple[str, ...]
    negated: bool = False

    def may_hold(self, value: str) -> bool:
        if self.negated:
            return not any(may_match(self.op, p, value, exact=True) for p in self.patterns)
        return any(may_match(self.op, p, value) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class TextSet:
    """Texts in ``only`` (``None``: any), not in ``excluded``, passing every test."""

    only: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()
    tests: tuple[PatternTest, ...] = ()

    def is_empty(self) -> bool:
        return self.only is not None and not self.members()

    def members(self) -> list[str]:
        """The texts left when ``only`` is given, in a stable order."""
        if self.only is None:
            return []
        return sorted(v for v in self.only - self.excluded
                      if all(t.may_hold(v) for t in self.tests))

    def intersect(self, other: TextSet) -> TextSet:
        if self.only is None:
            only = other.only
        elif other.only is None:
            only = self.only
        else:
            only = self.only & other.only
        return TextSet(only, self.excluded | other.excluded, self.tests + other.tests)

    def complement(self) -> TextSet | None:
        """The exact complement for the simple shapes a single comparison makes, else None."""
        if self.only is not None and not self.excluded and not self.tests:
            return TextSet(None, self.only)
        if self.only is None and not self.tests:
            return TextSet(self.excluded)
        if self.only is None and not self.excluded and len(self.tests) == 1:
            t = self.tests[0]
            return TextSet(tests=(replace(t, negated=not t.negated),))
        return None


ALL_TEXTS = TextSet()
NO_TEXTS = TextSet(frozenset())


@dataclass(frozen=True, slots=True)
class Values:
    """What a subject may be: unknown, a number, a text, a bare word (tier category, ``true``),
    or something else (a date)."""

    unknown: bool = True
    num: NumSet = ALL_NUMBERS
    text: TextSet = ALL_TEXTS
    word: TextSet = ALL_TEXTS
    other: bool = True

    def is_empty(self) -> bool:
        return (not self.unknown and not self.other and self.num.is_empty()
                and self.text.is_empty() and self.word.is_empty())

    def intersect(self, o: Values) -> Values:
        return Values(self.unknown and o.unknown, self.num.intersect(o.num),
                      self.text.intersect(o.text), self.word.intersect(o.word),
                      self.other and o.other)

    def complement(self) -> Values | None:
        text, word = self.text.complement(), self.word.complement()
        if text is None or word is None:
            return None
        return Values(not self.unknown, self.num.complement(), text, word, not self.other)


ANY = Values()
KNOWN = Values(unknown=False)
UNKNOWN = Values(True, NO_NUMBERS, NO_TEXTS, NO_TEXTS, False)
NOTHING = Values(False, NO_NUMBERS, NO_TEXTS, NO_TEXTS, False)


def numbers(s: NumSet) -> Values:
    return replace(NOTHING, num=s)


def texts(s: TextSet) -> Values:
    return replace(NOTHING, text=s)


def words(s: TextSet) -> Values:
    return replace(NOTHING, word=s)

"""One condition atom -> what it says about the values of its subjects.

A subject is what a lead has one value of: an attribute or score ``("attr", name)``, a count of
events ``("count", event, window)``, whether it did something ``("did", ...)``, the time since its
last event ``("last", ...)`` or a date attribute's distance from today ``("date", name)``. An atom
gives a primary ``Item`` (exact when its complement is the atom's negation) and items it implies
(a tier category implies a range of its source attribute). Definitions add declared items.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dsl import ast as A
from dsl.formatter import condition as show
from dsl.formatter import operand, quote
from dsl.logic.facts import Facts, num
from dsl.logic.sets import (
    ANY,
    INF,
    KNOWN,
    NO_NUMBERS,
    UNKNOWN,
    Interval,
    NumSet,
    PatternTest,
    TextSet,
    Values,
    describe_interval,
    numbers,
    texts,
    words,
)
from dsl.schema import event_kind

Subject = tuple[object, ...]

# Fixed-length units in days; months and years only compare with each other (in months).
DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0}
MONTHS = {"month": 1.0, "year": 12.0}
HUGE = 10**12  # amounts beyond this are all "forever" (and stay convertible to float)


@dataclass(frozen=True, slots=True)
class Item:
    subject: Subject
    values: Values
    label: str  # how a note names it: a quoted condition or a declaration
    node: A.Condition | None = None  # the atom it comes from; None for declarations
    declared: bool = False


def measure(d: A.Duration) -> tuple[str, float] | None:
    if d.unit in DAYS:
        return "days", min(d.amount, HUGE) * DAYS[d.unit]
    if d.unit in MONTHS:
        return "months", min(d.amount, HUGE) * MONTHS[d.unit]
    return None


def _window_key(d: A.Duration | None) -> object:
    return None if d is None else (measure(d) or (d.amount, d.unit))


def _event_key(e: A.EventMatch, facts: Facts) -> object:
    return (event_kind(e.words, facts.events) or e.phrase.lower(), e.filters)


NON_NEGATIVE = numbers(NumSet.compare(">=", 0))


def literal_items(atom: A.Condition, negated: bool, facts: Facts) -> list[Item]:
    """The items an atom (or its negation) puts on the table; [] when it says nothing usable."""
    found = _atom(atom, facts)
    if found is None:
        return []
    primary, implied, exact = found
    if not negated:
        return [primary, *implied]
    comp = primary.values.complement() if exact else None
    if comp is None:
        return []
    return [Item(primary.subject, comp, f"`{show(A.Not(atom))}`", atom)]


def declared_item(s: Subject, facts: Facts) -> Item | None:
    """What the definitions say about a subject whatever the condition says."""
    if s[0] in ("count", "did", "last"):
        return Item(s, NON_NEGATIVE, "a count is never negative", declared=True)
    if s[0] != "attr":
        return None
    name = str(s[1])
    if name in facts.allowed:
        kind, values = facts.allowed[name]
        listed = ", ".join(operand(v) for v in values)
        label = f"`{name}` is declared as one of ({listed})"
        if kind == "text":
            strs = frozenset(v.value for v in values if isinstance(v, A.Str))
            return Item(s, replace(ANY, text=TextSet(strs)), label, declared=True)
        if kind == "number":
            return Item(s, replace(ANY, num=_points(values)), label, declared=True)
    if name in facts.caps:
        cap, span = facts.caps[name]
        label = (f"score `{name}` never goes above {num(cap)} "
                 f"(`at most {num(cap)}`, line {span.line})")
        return Item(s, replace(ANY, num=NumSet.compare("<=", cap)), label, declared=True)
    return None


def _atom(c: A.Condition, facts: Facts) -> tuple[Item, list[Item], bool] | None:
    label = f"`{show(c)}`"
    if isinstance(c, A.Compare):
        return _compare(c, label, facts)
    if isinstance(c, A.InList) and isinstance(c.left, A.Name):
        return _in_list(c, label, facts)
    if isinstance(c, A.Known) and isinstance(c.left, A.Name):
        return Item(("attr", c.left.name), KNOWN if c.known else UNKNOWN, label, c), [], True
    if isinstance(c, A.TextMatch) and isinstance(c.left, A.Name):
        vals = texts(TextSet(tests=(PatternTest(c.op, (c.pattern.value,)),)))
        return Item(("attr", c.left.name), vals, label, c), [], True
    if isinstance(c, A.Count):
        s: Subject = ("count", _event_key(c.event, facts), _window_key(c.window))
        op = {"at least": ">=", "at most": "<=", "no": "="}[c.op]
        vals = numbers(NumSet.compare(op, c.n).intersect(NumSet.compare(">=", 0)))
        return Item(s, vals, label, c), [], True
    if isinstance(c, A.Did):
        target = c.target.name if isinstance(c.target, A.Name) else getattr(c.target, "value", None)
        s = ("did", c.verb, target, _window_key(c.window))
        return Item(s, numbers(NumSet.compare(">=", 1)), label, c), [], True
    if isinstance(c, A.LastEvent):
        m = measure(c.duration)
        if m is None:
            return None
        s = ("last", _event_key(c.event, facts), m[0])
        span = Interval(m[1], INF, True, False) if c.more else Interval(0, m[1])
        return Item(s, numbers(NumSet.of(span)), label, c), [], False
    if isinstance(c, A.DateWindow) and isinstance(c.left, A.Name):
        return _date_window(c, label)
    return None


def _compare(c: A.Compare, label: str, facts: Facts) -> tuple[Item, list[Item], bool] | None:
    left, op, right = c.left, c.op, c.right
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
    if not isinstance(left, A.Name) and isinstance(right, A.Name) and op in flip:
        left, right, op = right, left, flip[op]
    if not isinstance(left, A.Name):
        return None
    positive = op in ("=", "is")
    op = {"is": "=", "is not": "!="}.get(op, op)
    s: Subject = ("attr", left.name)
    if isinstance(right, A.Num):
        vals = numbers(NumSet.compare(op, right.value))
        if op == "!=":
            vals = replace(KNOWN, num=vals.num)
        return Item(s, vals, label, c), [], True
    if op not in ("=", "!="):
        return None
    tier = facts.tiers.get(left.name)
    if isinstance(right, A.Str):
        one = frozenset({right.value})
        vals = texts(TextSet(one)) if positive else replace(KNOWN, text=TextSet(None, one))
        return Item(s, vals, label, c), [], True
    if isinstance(right, A.Name) and tier is not None:  # a category: a word, exactly
        one = frozenset({right.name})
        vals = words(TextSet(one)) if positive else replace(KNOWN, word=TextSet(None, one))
        implied = _tier_implies(tier, (right.name,), label) if positive else []
        return Item(s, vals, label, c), implied, True
    if isinstance(right, A.Name) and c.op in ("is", "is not"):
        # a bare word on an attribute may be read as the text or as a constant (`true`)
        one = frozenset({right.name})
        vals = (Values(False, NO_NUMBERS, TextSet(one), TextSet(one), False) if positive
                else replace(KNOWN, word=TextSet(None, one)))
        return Item(s, vals, label, c), [], False
    return None


def _in_list(c: A.InList, label: str, facts: Facts) -> tuple[Item, list[Item], bool] | None:
    assert isinstance(c.left, A.Name)
    if not all(isinstance(v, A.Num | A.Str | A.Name) for v in c.values):
        return None
    nums = _points(c.values)
    strs = frozenset(v.value for v in c.values if isinstance(v, A.Str))
    names = tuple(v.name for v in c.values if isinstance(v, A.Name))
    s: Subject = ("attr", c.left.name)
    tier = facts.tiers.get(c.left.name)
    # bare words are categories of a tier; on an attribute, texts or constants (see _compare)
    loose = frozenset(names) if names and tier is None else frozenset()
    if c.negated:
        vals = Values(False, nums.complement(), TextSet(None, strs),
                      TextSet(None, frozenset(names)))
        return Item(s, vals, label, c), [], not loose
    vals = Values(False, nums, TextSet(strs | loose), TextSet(frozenset(names)), False)
    implied = _tier_implies(tier, names, label) if tier and len(names) == len(c.values) else []
    return Item(s, vals, label, c), implied, not loose


def _points(values: tuple[A.Operand, ...]) -> NumSet:
    return NumSet.of(*(Interval(v.value, v.value) for v in values if isinstance(v, A.Num)))


def _tier_implies(tier: A.Tier, cats: tuple[str, ...], label: str) -> list[Item]:
    """What being in one of ``cats`` says about the tier's source attribute (nothing when a
    category is `otherwise`, unknown, or the rules do not combine)."""
    rules = []
    for cat in cats:
        found = [e.rule for e in tier.entries if e.name == cat]
        if not found or any(r.kind == "otherwise" for r in found):
            return []
        rules.extend(found)
    vals = _rules_values(rules)
    if vals is None:
        return []
    what = " or ".join(rule_words(r) for r in rules)
    note = f"{label} (`{' or '.join(cats)}` means `{tier.source}` {what})"
    return [Item(("attr", tier.source), vals, note, None)]


def _rules_values(rules: list[A.TierRule]) -> Values | None:
    kinds = {r.kind for r in rules}
    if kinds <= {"between", "at least", "below"}:
        return numbers(NumSet.of(*(rule_interval(r) for r in rules)))
    if kinds == {"in"}:
        return texts(TextSet(frozenset(t for r in rules for t in r.texts)))
    if kinds == {"matches"}:
        patterns = tuple(t for r in rules for t in r.texts)
        return texts(TextSet(tests=(PatternTest("matches", patterns),)))
    return None


def rule_interval(r: A.TierRule) -> Interval:
    if r.kind == "between":
        return Interval(float(r.low or 0), float(r.high or 0))
    if r.kind == "at least":
        return Interval(float(r.low or 0), INF, True, False)
    return Interval(-INF, float(r.high or 0), False, False)


def rule_words(r: A.TierRule) -> str:
    if r.kind in ("between", "at least", "below"):
        return describe_interval(rule_interval(r))
    return f"{r.kind} ({', '.join(quote(t) for t in r.texts)})"


def _date_window(c: A.DateWindow, label: str) -> tuple[Item, list[Item], bool] | None:
    assert isinstance(c.left, A.Name)
    known = Item(("attr", c.left.name), KNOWN, label, c)
    m = measure(c.duration)
    if m is None or m[0] != "days":
        return known, [], False
    d = m[1]  # a day of slack either side: dates against the clock are fuzzy at the edges
    span = {
        "within": Interval(-1, d + 1), "in last": Interval(-d - 1, 1),
        "more than ago": Interval(-INF, -d + 1, False, True),
        "less than ago": Interval(-d - 1, INF, True, False),
    }.get(c.op)
    if span is None:
        return known, [], False
    return Item(("date", c.left.name), numbers(NumSet.of(span)), label, c), [known], False

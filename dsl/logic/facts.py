"""What the reasoning needs to know about a folder's definitions, and how to quote a condition.

``Facts`` is a small read-only view of the symbol table (``dsl.symbols``): declared allowed
values of attributes, tiers, score caps, segments and custom event phrases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dsl import ast as A
from dsl import symbols


@dataclass(frozen=True)
class Facts:
    allowed: dict[str, tuple[str, tuple[A.Operand, ...]]] = field(default_factory=dict)
    tiers: dict[str, A.Tier] = field(default_factory=dict)
    caps: dict[str, tuple[float, A.Span]] = field(default_factory=dict)
    segments: dict[str, A.Condition] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # custom phrase -> kind

    @staticmethod
    def of(modules: Sequence[A.Module]) -> Facts:
        return Facts.from_symbols(symbols.build(modules))

    @staticmethod
    def from_symbols(table: symbols.Symbols) -> Facts:
        allowed = {name: (a.type.lower(), a.values) for name, a in table.attributes.items()
                   if a.values is not None}
        caps: dict[str, tuple[float, A.Span]] = {}
        for name, score in table.scores.items():
            cap = next((o for o in score.lines if isinstance(o, A.ScoreOption)
                        and o.kind == "cap" and o.value is not None), None)
            if cap is not None and cap.value is not None:
                caps[name] = (float(cap.value), cap.span)
        segments = {name: seg.condition for name, seg in table.segments.items()}
        return Facts(allowed, dict(table.tiers), caps, segments, table.custom_kinds())


# ---------------------------------------------------------------- quoting conditions


def num(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    return str(int(v)) if v.is_integer() else str(v)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def duration(d: A.Duration) -> str:
    return f"{d.amount} {d.unit}" + ("s" if d.amount != 1 and d.unit.isalpha() else "")


def operand(o: A.Operand) -> str:
    if isinstance(o, A.Str):
        return quote(o.value)
    if isinstance(o, A.Num):
        return num(o.value)
    if isinstance(o, A.Name):
        return o.name
    if isinstance(o, A.Today):
        return "today"
    return f"{operand(o.base)} {o.sign} {duration(o.duration)}"


def event(e: A.EventMatch) -> str:
    out = [e.phrase]
    for f in e.filters:
        if f.kind == "where":
            tests = ", ".join(f"{t.prop} {t.op} {operand(t.value)}" for t in f.tests)
            out.append(f"where {tests}")
        elif f.value is not None:
            out.append(f"{f.kind} {quote(f.value.value)}")
    return " ".join(out)


def _window(w: A.Duration | None) -> str:
    return f" in last {duration(w)}" if w is not None else ""


def show(c: A.Condition) -> str:
    """The condition as it would be written (canonical spacing), for notes."""
    if isinstance(c, A.And | A.Or):
        word = " and " if isinstance(c, A.And) else " or "
        return word.join(_paren(i, c) for i in c.items)
    if isinstance(c, A.Not):
        inner = show(c.item)
        bare = isinstance(c.item, A.SegmentRef | A.GoalRef | A.Did | A.Count | A.LastEvent)
        return f"not {inner}" if bare else f"not ({inner})"
    if isinstance(c, A.Compare):
        return f"{operand(c.left)} {c.op} {operand(c.right)}"
    if isinstance(c, A.InList):
        word = "not in" if c.negated else "in"
        return f"{operand(c.left)} {word} ({', '.join(operand(v) for v in c.values)})"
    if isinstance(c, A.TextMatch):
        return f"{operand(c.left)} {c.op} {quote(c.pattern.value)}"
    if isinstance(c, A.Known):
        return f"{operand(c.left)} is {'known' if c.known else 'unknown'}"
    if isinstance(c, A.DateWindow):
        if c.op.endswith(" ago"):
            return f"{operand(c.left)} {c.op[:-4]} {duration(c.duration)} ago"
        return f"{operand(c.left)} {c.op} {duration(c.duration)}"
    if isinstance(c, A.Count):
        head = "no" if c.op == "no" else f"{c.op} {c.n}"
        return f"{head} {event(c.event)}{_window(c.window)}"
    if isinstance(c, A.Did):
        if c.target is None:
            target = "any email"
        else:
            target = c.target.name if isinstance(c.target, A.Name) else quote(c.target.value)
        return f"{c.verb} {target}{_window(c.window)}"
    if isinstance(c, A.LastEvent):
        rel = "more" if c.more else "less"
        return f"last {event(c.event)} {rel} than {duration(c.duration)} ago"
    if isinstance(c, A.SegmentRef):
        return c.name
    return "goal"


def _paren(item: A.Condition, parent: A.And | A.Or) -> str:
    text = show(item)
    if isinstance(item, A.And | A.Or) and type(item) is not type(parent):
        return f"({text})"
    return text

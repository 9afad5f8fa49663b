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



"""The entry audience of every flow in a folder, as one condition each.

A flow enters on a condition (``enter when C``) or on an event (``enter on stage change to
"recycle" when C``). For a count of "who would enter now" an event trigger is read as "such an
event in the last :data:`TRIGGER_WINDOW`, and C": the demo data and the audience benchmark use
that to show that every example flow has an audience, with no runtime involved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from dsl import ast as A
from dsl import symbols as S
from engine.conditions.model import Context
from engine.workspace import UsageError, load

TRIGGER_WINDOW = A.Duration(1, "day")


@dataclass(frozen=True)
class Audience:
    flow: str
    condition: A.Condition
    context: Context


def entry_condition(flow: A.Flow, window: A.Duration = TRIGGER_WINDOW) -> A.Condition | None:
    """The flow's entry as a condition (None for a flow without an entry)."""
    for item in flow.items:
        if isinstance(item, A.EnterWhen):
            return item.condition
        if isinstance(item, A.EnterOn):
            happened = A.Count("at least", 1, item.event, window)
            return happened if item.condition is None else A.And((happened, item.condition))
    return None


def flow_audiences(folder: str | Path = "flows") -> list[Audience]:
    """Every flow of the folder with its entry condition, in file order."""
    ws = load([str(folder)], check=True)
    errors = [d for d in ws.diagnostics if d.is_error]
    if errors:
        raise UsageError(f"{folder}: {len(errors)} error(s) in the flows; run `engine check "
                         f"{folder}`")
    symbols = S.build(ws.modules)
    out = []
    for module in sorted(ws.modules, key=lambda m: m.path):
        for item in module.items:
            if isinstance(item, A.Flow):
                condition = entry_condition(item)
                if condition is not None:
                    out.append(Audience(item.name, condition, Context(symbols, item)))
    return out


def utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)

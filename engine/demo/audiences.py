"""The entry audience of every flow in a folder, as one condition each.

A flow enters on a condition (``enter when C``) or on an event (``enter on stage change to
"recycle" when C``). For a count of "who would enter now" an event trigger is read as "such an
event in the last :data:`TRIGGER_WINDOW`, and C": the demo data and the audience benchmark use
that to show that every example flow has an audience, with no runtime involved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from dsl import ast as A
from dsl import symbols as S
from dsl.parser import parse_source
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


def flow_audiences(folder: str | Path = "flows",
                   segments: Mapping[str, str] | None = None) -> list[Audience]:
    """Every flow of the folder with its entry condition, in file order; then each of
    ``segments`` (name -> condition text, using the folder's definitions) as an audience."""
    ws = load([str(folder)], check=False)  # parse errors only: `engine check` does the rest
    modules = list(ws.modules)
    diagnostics = list(ws.diagnostics)
    if segments:
        text = "".join(f'segment {name} "{name}": {cond}\n' for name, cond in segments.items())
        module, found = parse_source("<segments>", text)
        diagnostics += found
        modules += [module] if module is not None else []
    errors = [d for d in diagnostics if d.is_error]
    if errors:
        raise UsageError(f"{folder}: {len(errors)} syntax error(s), the first: "
                         f"{errors[0].message}; run `engine check {folder}`")
    symbols = S.build(modules)
    out = []
    for module in sorted(ws.modules, key=lambda m: m.path):
        for item in module.items:
            if isinstance(item, A.Flow):
                condition = entry_condition(item)
                if condition is not None:
                    out.append(Audience(item.name, condition, Context(symbols, item)))
    for name in segments or ():
        out.append(Audience(name, A.SegmentRef(name), Context(symbols)))
    return out


def audience_sizes(engine: Engine, audiences: list[Audience],
                   at: dt.datetime) -> list[tuple[str, int]]:
    """How many leads each audience holds at T, counted in the database by compiled SQL."""
    from engine.conditions.compile import count_query
    from engine.conditions.sqlite_math import ensure_power

    ensure_power(engine)
    with engine.connect() as conn:
        return [(a.flow, int(conn.execute(count_query(a.condition, a.context, at, engine))
                             .scalar_one())) for a in audiences]

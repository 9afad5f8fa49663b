"""Changes a flow makes to a lead itself: `set ATTRIBUTE to VALUE`.

The value is stamped in the lead's provenance with the source ``flow:<name>`` (so merge rules
see who wrote it, and a more trusted CRM value can win it back), and a stage set by a flow is a
stage change like any other: a ``stage_change`` event, so flows that `enter on stage change to
...` react to it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dsl import ast as A
from engine.conditions.model import Context
from engine.conditions.reference import Interpreter
from engine.store.fields import LEAD_COLUMNS
from engine.store.schema import events, leads


@dataclass(frozen=True)
class Change:
    """What `set` does to one lead: the values as the language sees them, and the writes
    (none when the lead already has the value)."""

    lead_id: int
    old: Any
    new: Any
    values: dict[str, Any] | None = None  # columns of ``leads`` to update
    event: dict[str, Any] | None = None  # a ``stage_change`` row


def attribute_change(ctx: Context, lead: Mapping[str, Any], lead_id: int, step: A.SetAttr,
                     at: dt.datetime, flow: str, label: str) -> Change:
    attribute = ctx.symbols.attributes.get(step.name)
    kind = attribute.type if attribute is not None else "text"
    new = Interpreter(lead, [], at, ctx).value(step.value, peer=kind).value
    old = lead.get(step.name)
    if old == new:
        return Change(lead_id, old, new)
    stored: Any = new.isoformat() if isinstance(new, dt.date) else new
    row = lead.get("_row") or {}
    provenance = dict(row.get("provenance") or {})
    provenance[step.name] = {"source": f"flow:{flow}", "at": at.isoformat()}
    values: dict[str, Any] = {"provenance": provenance, "updated_at": at}
    if step.name in LEAD_COLUMNS:
        values[LEAD_COLUMNS[step.name]] = stored
    else:
        custom = dict(row.get("custom") or {})
        custom[step.name] = stored
        values["custom"] = custom
    event = None
    if step.name == "stage":
        event = {"lead_id": lead_id, "type": "stage_change", "occurred_at": at,
                 "from_stage": old, "to_stage": stored, "flow": flow, "step": label,
                 "source": "engine"}
    return Change(lead_id, old, new, values, event)


# The SET columns come from each parameter set.
_UPDATE = leads.update().where(leads.c.id == sa.bindparam("_id"))


def write_changes(conn: Connection, changes: Iterable[Change]) -> None:
    """The writes of many changes: one executemany per set of columns, one for the events."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    stage_events = []
    for change in changes:
        if change.values is not None:
            row = {**change.values, "_id": change.lead_id}
            groups[tuple(sorted(row))].append(row)
        if change.event is not None:
            stage_events.append(change.event)
    for rows in groups.values():
        conn.execute(_UPDATE, rows)
    if stage_events:
        conn.execute(events.insert(), stage_events)


def set_attribute(conn: Connection, ctx: Context, lead: Mapping[str, Any], lead_id: int,
                  step: A.SetAttr, at: dt.datetime, flow: str, label: str,
                  ) -> tuple[Any, Any]:
    """Write the value for one lead; returns (old, new) as the language sees them."""
    change = attribute_change(ctx, lead, lead_id, step, at, flow, label)
    write_changes(conn, [change])
    return change.old, change.new


__all__ = ["Change", "attribute_change", "set_attribute", "write_changes"]

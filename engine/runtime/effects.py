"""Changes a flow makes to a lead itself: `set ATTRIBUTE to VALUE`.

The value is stamped in the lead's provenance with the source ``flow:<name>`` (so merge rules
see who wrote it, and a more trusted CRM value can win it back), and a stage set by a flow is a
stage change like any other: a ``stage_change`` event, so flows that `enter on stage change to
...` react to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dsl import ast as A
from engine.conditions.model import Context
from engine.conditions.reference import Interpreter
from engine.store.fields import LEAD_COLUMNS
from engine.store.schema import events, leads


def set_attribute(conn: Connection, ctx: Context, lead: Mapping[str, Any], lead_id: int,
                  step: A.SetAttr, at: dt.datetime, flow: str, label: str,
                  ) -> tuple[Any, Any]:
    """Write the value; returns (old, new) as the language sees them."""
    attribute = ctx.symbols.attributes.get(step.name)
    kind = attribute.type if attribute is not None else "text"
    new = Interpreter(lead, [], at, ctx).value(step.value, peer=kind).value
    old = lead.get(step.name)
    if old == new:
        return old, new
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
    conn.execute(leads.update().where(leads.c.id == lead_id).values(**values))
    if step.name == "stage":
        conn.execute(events.insert().values(
            lead_id=lead_id, type="stage_change", occurred_at=at, from_stage=old,
            to_stage=stored, flow=flow, step=label, source="engine"))
    return old, new


__all__ = ["set_attribute", "sa"]

"""Store rows -> what the reference interpreter reads: a lead mapping and events.

The mapping follows the store's allowlist (engine.store.fields): core attributes from their
columns, declared custom attributes from ``leads.custom`` with the same typing rule as the SQL
(a JSON value of another type is unknown), event properties by their language names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from engine.conditions.model import Context, Event
from engine.conditions.values import ENTRIES, json_value, typed
from engine.store.fields import EVENT_COLUMNS, LEAD_COLUMNS
from engine.store.schema import enrollments, events, leads


def lead_from_row(row: Mapping[Any, Any], ctx: Context,
                  names: Collection[str] | None = None) -> dict[str, Any]:
    """A ``leads`` row (column -> value) as the language sees the lead; ``names``: only these
    attributes (from a row of :func:`attribute_columns`)."""
    out: dict[str, Any] = {}
    for name, column in LEAD_COLUMNS.items():
        if names is None or name in names:
            attr = ctx.symbols.attributes.get(name)
            out[name] = typed(attr.type if attr else "text", row.get(column))
    custom = row.get("custom") or {}
    for name, kind in ctx.custom_types.items():
        if names is None or name in names:
            out[name] = json_value(kind, custom.get(name)) if isinstance(custom, dict) else None
    return out


def attribute_columns(names: Collection[str], ctx: Context) -> list[sa.Column[Any]] | None:
    """The ``leads`` columns holding these attributes (``custom`` for custom ones), when every
    name is a plain attribute; None when one is a tier, score or segment, which need the whole
    lead. Reading a few columns instead of the whole row (two JSON documents among them) is
    what makes a step that looks at one date cheap for thousands of enrollments."""
    columns: dict[str, sa.Column[Any]] = {"id": leads.c.id}
    for name in names:
        if name in LEAD_COLUMNS:
            columns[LEAD_COLUMNS[name]] = leads.c[LEAD_COLUMNS[name]]
        elif name in ctx.custom_types:
            columns["custom"] = leads.c.custom
        else:
            return None
    return list(columns.values())


def event_from_row(row: Mapping[Any, Any]) -> Event:
    """An ``events`` row; ``machine`` is TRUE or NULL in the store (absent before migration
    0004), so anything but TRUE is a person."""
    props = {prop: row.get(column) for prop, column in EVENT_COLUMNS.items()}
    return Event(row["type"], row["occurred_at"], props, machine=row.get("machine") is True)


def load_lead(conn: sa.Connection, lead_id: int, ctx: Context) -> tuple[dict[str, Any],
                                                                           list[Event]]:
    """One lead and all its events, read from the store."""
    return load_leads(conn, [lead_id], ctx)[lead_id]


def entries(conn: sa.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each lead's latest entry into each flow (``clicked STEP`` counts from it)."""
    out: dict[int, dict[str, Any]] = {}
    for lead_id, flow, at in conn.execute(
            sa.select(enrollments.c.lead_id, enrollments.c.flow,
                      sa.func.max(enrollments.c.entered_at).label("at"))
            .where(enrollments.c.lead_id.in_(list(ids)))
            .group_by(enrollments.c.lead_id, enrollments.c.flow)):
        out.setdefault(int(lead_id), {})[flow] = at  # max() keeps the column's type
    return out


def load_leads(conn: sa.Connection, ids: Sequence[int], ctx: Context) -> dict[int, tuple[
        dict[str, Any], list[Event]]]:
    """Several leads with their events (three queries, for tests and explanations)."""
    out: dict[int, tuple[dict[str, Any], list[Event]]] = {}
    entered = entries(conn, ids)
    for row in conn.execute(sa.select(leads).where(leads.c.id.in_(list(ids)))).mappings():
        out[row["id"]] = ({**lead_from_row(row, ctx), ENTRIES: entered.get(row["id"], {})}, [])
    query = (sa.select(events).where(events.c.lead_id.in_(list(ids)))
             .order_by(events.c.occurred_at, events.c.id))
    for row in conn.execute(query).mappings():
        if row["lead_id"] in out:
            out[row["lead_id"]][1].append(event_from_row(row))
    return out


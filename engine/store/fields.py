"""The allowlist: the only way a name written in a flow becomes a piece of SQL.

Security invariant (RELIABILITY I11): a condition reaches the database only as SQLAlchemy
expressions built from the entries below, with literals as bound parameters. A name that is not a
core attribute (dsl.schema.CORE_ATTRIBUTES), a declared custom attribute or an event property
(dsl.schema.EVENT_PROPERTIES) raises :class:`UnknownField`; it never becomes a column name.

>>> attribute("employees").expr
Column('employees', Integer(), table=<leads>)
>>> event_property("to").column.name
'to_stage'
>>> str(attribute("renewal_date", {"renewal_date": "date"}).expr.type)
'DATE'

Every expression has the language's type (``Field.type``): text, number, date or boolean. The
date attribute ``created_at`` is an instant in the table; :func:`attribute` gives its UTC calendar
date, as docs/semantics.md says dates compare. Custom attributes live in ``leads.custom`` (JSON);
each resolves to a typed, guarded extraction that is the same on both dialects: a value of the
wrong JSON type (text where a number was declared, an invalid date) is *unknown* (SQL NULL),
never an error and never a silent zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from dsl.schema import CORE_ATTRIBUTES, EVENT_PROPERTIES, TYPES
from engine.store.schema import events, leads


class UnknownField(LookupError):
    """A name outside the allowlist. Checked flows never produce one: seeing it is a bug (or an
    attack), so it is raised, never turned into SQL."""


# Language attribute -> leads column. Spelled out (not derived by name) so that renaming either
# side is a visible, reviewed change.
LEAD_COLUMNS: Mapping[str, str] = {
    "email": "email", "first_name": "first_name", "last_name": "last_name",
    "company": "company", "employees": "employees", "industry": "industry",
    "service_category": "service_category", "title": "title", "department": "department",
    "stage": "stage", "owner": "owner", "country": "country", "time_zone": "time_zone",
    "language": "language", "phone": "phone", "consent": "consent", "created_at": "created_at",
    "legal_basis": "legal_basis",
}

# Event property -> events column. `from` / `to` are the old / new stage of a stage change.
EVENT_COLUMNS: Mapping[str, str] = {
    "url": "url", "link": "link", "template": "template", "flow": "flow", "step": "step",
    "campaign": "campaign", "asset": "asset", "name": "name", "form": "form",
    "from": "from_stage", "to": "to_stage",
}

assert set(LEAD_COLUMNS) == set(CORE_ATTRIBUTES), "every core attribute needs a column"
assert set(EVENT_COLUMNS) == set(EVENT_PROPERTIES), "every event property needs a column"

_NAME = re.compile(r"[^\W\d]\w*")  # dsl/grammar.lark NAME


@dataclass(frozen=True, slots=True)
class Field:
    """A language name resolved to SQL. ``column`` is the stored column (None for custom
    attributes, which live in ``leads.custom``); ``expr`` is what conditions compare."""

    name: str
    type: str
    expr: ColumnElement[Any]
    column: sa.ColumnElement[Any] | None = None
    custom: bool = False


def attribute(name: str, custom: Mapping[str, str] | None = None,
              table: FromClause = leads) -> Field:
    """Resolve a lead attribute. ``custom``: the declared custom attributes (name -> type, from
    the flows' ``attributes:`` blocks). ``table``: ``leads`` or an alias of it."""
    _require(table, leads)
    if name in LEAD_COLUMNS:
        column = table.c[LEAD_COLUMNS[name]]
        kind = CORE_ATTRIBUTES[name]
        expr: ColumnElement[Any] = column
        if name == "created_at":
            expr = utc_date(column)
        return Field(name, kind, expr, column)
    if custom is not None and name in custom:
        kind = custom[name]
        return Field(name, kind, custom_value(table.c.custom, name, kind), None, custom=True)
    raise UnknownField(f"unknown lead attribute {name!r}")


def event_property(name: str, table: FromClause = events) -> Field:
    """Resolve an event property (every one is text). ``table``: ``events`` or an alias."""
    _require(table, events)
    if name not in EVENT_COLUMNS:
        raise UnknownField(f"unknown event property {name!r}")
    column = table.c[EVENT_COLUMNS[name]]
    return Field(name, "text", column, column)


def custom_value(doc: ColumnElement[Any], name: str, kind: str) -> ColumnElement[Any]:
    """The typed value of custom attribute ``name`` in the JSON column ``doc`` (NULL when absent
    or of another type). The key is a bound parameter, never part of the SQL text."""
    if not _NAME.fullmatch(name) or name in LEAD_COLUMNS:
        raise UnknownField(f"invalid custom attribute name {name!r}")
    element = _CUSTOM.get(kind)
    if element is None:
        raise UnknownField(f"custom attribute {name!r} has unknown type {kind!r} "
                           f"(one of {', '.join(TYPES)})")
    return element(doc, sa.literal(name, sa.Text))


def _require(table: FromClause, base: sa.Table) -> None:
    if table is base:
        return
    if isinstance(table, sa.Alias) and table.element is base:
        return
    raise UnknownField(f"{table!r} is not the {base.name} table")


# ------------------------------------------------------------------ SQL elements per dialect


class utc_date(FunctionElement[Any]):  # noqa: N801 - SQLAlchemy's convention for functions
    """The UTC calendar date of an instant (a ``UTCDateTime`` column)."""

    type = sa.Date()
    name = "utc_date"
    inherit_cache = True


class _Custom(FunctionElement[Any]):
    inherit_cache = True


class custom_text(_Custom):  # noqa: N801
    type = sa.Text()
    name = "custom_text"
    inherit_cache = True


class custom_number(_Custom):  # noqa: N801
    type = sa.Float()
    name = "custom_number"
    inherit_cache = True


class custom_date(_Custom):  # noqa: N801
    type = sa.Date()
    name = "custom_date"
    inherit_cache = True


class custom_boolean(_Custom):  # noqa: N801
    type = sa.Boolean()
    name = "custom_boolean"
    inherit_cache = True


_CUSTOM: dict[str, type[_Custom]] = {
    "text": custom_text, "number": custom_number, "date": custom_date, "boolean": custom_boolean,
}


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC (engine.store.types): date() reads it.
    return f"date({_args(element, compiler, **kw)[0]})"


@compiles(utc_date, "postgresql")
def _utc_date_pg(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({_args(element, compiler, **kw)[0]} AT TIME ZONE 'UTC') AS DATE)"


# SQLite: json_type() says integer / real / text / true / false / null; the path is '$."key"'.
_SQLITE = {
    custom_text: "CASE WHEN json_type({d}, {p}) = 'text' THEN json_extract({d}, {p}) END",
    custom_number: "CASE WHEN json_type({d}, {p}) IN ('integer', 'real') "
                   "THEN CAST(json_extract({d}, {p}) AS REAL) END",
    custom_boolean: "CASE json_type({d}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    # Only a canonical, valid 'YYYY-MM-DD' from year 1000 on: date(v, '+0 days') normalises
    # ('2025-02-30' becomes '2025-03-02') or rejects the rest; PostgreSQL below accepts exactly
    # the same set.
    custom_date: "CASE WHEN json_type({d}, {p}) = 'text' "
                 "AND date(json_extract({d}, {p}), '+0 days') = json_extract({d}, {p}) "
                 "AND json_extract({d}, {p}) >= '1000-01-01' THEN json_extract({d}, {p}) END",
}

# PostgreSQL: jsonb_typeof() says number / string / boolean / null. CASE evaluates a THEN only
# when its WHEN holds, so the casts never see a value they would reject (AND gives no such
# guarantee: hence the nesting for dates).
_PG_DATE = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_PG = {
    custom_text: "CASE WHEN jsonb_typeof({d} -> {k}) = 'string' THEN {d} ->> {k} END",
    custom_number: "CASE WHEN jsonb_typeof({d} -> {k}) = 'number' "
                   "THEN CAST({d} ->> {k} AS DOUBLE PRECISION) END",
    custom_boolean: "CASE WHEN jsonb_typeof({d} -> {k}) = 'boolean' "
                    "THEN CAST({d} ->> {k} AS BOOLEAN) END",
    custom_date: "CASE WHEN jsonb_typeof({d} -> {k}) = 'string' THEN "
                 "CASE WHEN ({d} ->> {k}) ~ '" + _PG_DATE + "' THEN "
                 "CASE WHEN to_char(make_date(CAST(substr({d} ->> {k}, 1, 4) AS INTEGER), "
                 "CAST(substr({d} ->> {k}, 6, 2) AS INTEGER), 1) "
                 "+ (CAST(substr({d} ->> {k}, 9, 2) AS INTEGER) - 1), 'YYYY-MM-DD') "
                 "= ({d} ->> {k}) THEN CAST({d} ->> {k} AS DATE) END END END",
}


def _fill(template: str, **parts: str) -> str:
    # Not str.format: the date pattern has braces of its own.
    for name, sql in parts.items():
        template = template.replace("{" + name + "}", sql)
    return template


@compiles(_Custom, "sqlite")
def _custom_sqlite(element: _Custom, compiler: SQLCompiler, **kw: Any) -> str:
    doc, key = _args(element, compiler, **kw)
    return _fill(_SQLITE[type(element)], d=doc, p=f"'$.' || json_quote({key})")


@compiles(_Custom, "postgresql")
def _custom_pg(element: _Custom, compiler: SQLCompiler, **kw: Any) -> str:
    doc, key = _args(element, compiler, **kw)
    return _fill(_PG[type(element)], d=doc, k=key)


@compiles(_Custom)
@compiles(utc_date)
def _unsupported(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    raise sa.exc.CompileError(f"{element.name} is defined for SQLite and PostgreSQL only")

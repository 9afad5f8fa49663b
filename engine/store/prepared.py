"""Core statements compiled once per dialect and run through the DBAPI cursor of the caller's
connection: the hot paths of the delivery ledger and of the tick's writes (intents, journal
rows, the enrollments' compare-and-set).

A run writes two compare-and-set UPDATEs per message (the ``sending`` mark, the result) and
checks suppressions once per chunk. Through ``Connection.execute`` each of those statements is
rebuilt, its cache key computed, its parameters processed and its result wrapped at every call:
about 100 us of Python per statement, more than SQLite's own work for the rows. Here a statement
is written once with SQLAlchemy Core (so it stays one statement for every dialect, with the
store's column types), compiled once per dialect, and executed with the driver's own
``executemany`` inside the caller's transaction. Bind values still go through the columns' bind
processors (UTCDateTime, JSON, the PostgreSQL casts), so the rows hold exactly what
``Connection.execute`` would have written.

Not for general use: no SQLAlchemy events fire around these statements. Driver errors are
raised as SQLAlchemy's exceptions, as ``Connection.execute`` raises them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

_REQUIRED = object()
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Param:
    source: str  # where the caller's values hold it
    key: str  # where the driver looks for it (a dict key for named paramstyles)
    process: Processor
    default: Any  # a literal written into the statement, or _REQUIRED

    def value(self, values: Mapping[str, Any]) -> Any:
        value = values[self.source] if self.default is _REQUIRED \
            else values.get(self.source, self.default)
        return value if self.process is None else self.process(value)


@dataclass(frozen=True, slots=True)
class Plan:
    sql: str
    params: tuple[_Param, ...]
    positional: bool

    def packer(self, common: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any]:
        """A function making one row's parameters as the driver wants them (a tuple, or a dict
        by key); ``common`` holds the values shared by every row, processed once here."""
        fixed = [(i, p.value(common)) for i, p in enumerate(self.params) if p.source in common]
        varying = [(i, p) for i, p in enumerate(self.params) if p.source not in common]
        template: list[Any] = [None] * len(self.params)
        for index, value in fixed:
            template[index] = value
        keys = [p.key for p in self.params]

        plain = [(i, p.source) for i, p in varying
                 if p.process is None and p.default is _REQUIRED]
        other = [(i, p) for i, p in varying if p.process is not None or p.default is not _REQUIRED]
        positional = self.positional
        # The value each processed parameter had in the row before, and what it became: rows
        # of one batch share objects (the tick's instant in three columns of every row), and
        # processing a datetime costs more than the rest of the row. Sound because every row
        # is packed before the driver runs, so no object changes between two rows' packing.
        seen: list[Any] = [_REQUIRED] * len(self.params)
        made: list[Any] = [None] * len(self.params)

        def pack(values: Mapping[str, Any]) -> Any:  # per row: keep it lean
            out = template.copy()
            for index, source in plain:
                out[index] = values[source]
            for index, param in other:
                raw = values[param.source] if param.default is _REQUIRED \
                    else values.get(param.source, param.default)
                if raw is not seen[index]:
                    seen[index] = raw
                    made[index] = raw if param.process is None else param.process(raw)
                out[index] = made[index]
            return tuple(out) if positional else dict(zip(keys, out, strict=True))

        return pack


def compile_for(statement: sa.ClauseElement, dialect: Dialect,
                sources: Mapping[str, str] | None = None) -> Plan:
    """The statement's SQL for ``dialect`` and how to pack its parameters; ``sources`` maps a
    bind parameter's name to the key holding its value (default: the name itself)."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    binds: dict[str, BindParameter[Any]] = {name: bind
                                            for bind, name in compiled.bind_names.items()}
    if compiled.positional:
        names = list(compiled.positiontup or ())
    else:
        names = list(dict.fromkeys(binds))
    escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
    sources = sources or {}
    params = []
    for name in names:
        bind = binds[name]
        if bind.callable is not None:
            raise ValueError(f"bind parameter {name!r} has a callable value: not supported")
        default = _REQUIRED if bind.required else bind.value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        params.append(_Param(sources.get(name, name), escaped.get(name, name), process, default))
    return Plan(compiled.string, tuple(params), bool(compiled.positional))


class Prepared:
    """One Core statement, compiled on first use for each dialect (a handful of engines per
    process, so the cache is tiny and keyed weakly by the dialect object). ``sources`` maps bind
    parameter names to the keys of the values passed in (UPDATE ... SET needs bind names that
    differ from the column names)."""

    def __init__(self, statement: sa.ClauseElement,
                 sources: Mapping[str, str] | None = None) -> None:
        self.statement = statement
        self.sources = dict(sources or {})
        self._compiled: weakref.WeakKeyDictionary[Dialect, Plan] = \
            weakref.WeakKeyDictionary()

    def plan(self, dialect: Dialect) -> Plan:
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = compile_for(self.statement, dialect, self.sources)
        return found

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]],
                    **common: Any) -> int:
        """Run the statement once per row in the caller's transaction (``common``: values
        shared by every row); returns how many rows it changed in all (the sum over the rows,
        as both drivers used here report it)."""
        if not rows:
            return 0
        plan = self.plan(conn.dialect)
        pack = plan.packer(common)
        params = [pack(row) for row in rows]
        with _cursor(conn, plan.sql) as cursor:
            if len(params) == 1:
                cursor.execute(plan.sql, params[0])
            else:
                cursor.executemany(plan.sql, params)
            return int(cursor.rowcount)

    def fetchall(self, conn: sa.Connection, **values: Any) -> list[tuple[Any, ...]]:
        """Run a SELECT and return its rows as plain tuples (for columns whose types need no
        result processing: ids, text)."""
        plan = self.plan(conn.dialect)
        with _cursor(conn, plan.sql) as cursor:
            cursor.execute(plan.sql, plan.packer(values)({}))
            return [tuple(row) for row in cursor.fetchall()]


@contextmanager
def _cursor(conn: sa.Connection, sql: str) -> Iterator[Any]:
    """A DBAPI cursor of the caller's connection, closed after use; the driver's errors
    raised as SQLAlchemy's (``_wrapped``)."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, sql, error) from error
    finally:
        cursor.close()


def _wrapped(conn: sa.Connection, sql: str, error: Exception) -> BaseException:
    """The driver's error as SQLAlchemy's own (OperationalError, IntegrityError...), as
    ``Connection.execute`` would raise it, so callers catch the same exceptions either way."""
    return sa.exc.DBAPIError.instance(sql, None, error, conn.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=conn.dialect)


class Columnwise:
    """Many rows of one table in ONE statement on PostgreSQL: each column's values as an
    array, unnested in lockstep (``INSERT ... SELECT * FROM unnest(...)``, or an ``UPDATE ...
    FROM unnest(...)`` matched on key columns: a compare-and-set per row, as the row-wise
    statement is). Elsewhere (SQLite, whose executemany runs in the process) and for a single
    row, the row-wise ``Prepared``.

    Why: through the driver's pipelined executemany PostgreSQL still binds, executes and logs
    each row as its own statement, and the tick's 500-row batches spent most of their time
    there (about 40 us a row, three writes an enrollment); one statement a batch costs a few
    microseconds a row. Values go through the same column types' bind processors.

    ``match``: for an UPDATE, (name in the rows, column) pairs that select the row to change,
    e.g. ``(("_id", "id"), ("_revision", "revision"))``; ``columns``: the columns written,
    each read from the rows under its own name. The row-wise statement is derived from the
    same description, one per dialect (an INSERT's ON CONFLICT is dialect-specific)."""

    def __init__(self, table: sa.Table, columns: Sequence[str], *,
                 match: Sequence[tuple[str, str]] = (), on_conflict_do_nothing: bool = False,
                 ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.match = tuple(match)
        self.on_conflict_do_nothing = on_conflict_do_nothing
        self._rowwise: dict[str, Prepared] = {}
        self._compiled: weakref.WeakKeyDictionary[Dialect, Plan] = \
            weakref.WeakKeyDictionary()

    def rowwise(self, dialect: str) -> Prepared:
        """The statement for one row at a time: values bound as ``v_`` + the column's name
        (an UPDATE's SET may not bind a column's own name), typed as the column."""
        found = self._rowwise.get(dialect)
        if found is None:
            table = self.table
            values = {c: sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in self.columns}
            sources = {f"v_{c}": c for c in self.columns}
            statement: Any
            if self.match:
                statement = table.update().where(*(
                    table.c[column] == sa.bindparam(name, type_=table.c[column].type)
                    for name, column in self.match)).values(values)
            elif self.on_conflict_do_nothing:
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                statement = insert(table).values(values).on_conflict_do_nothing()
            else:
                statement = table.insert().values(values)
            found = self._rowwise[dialect] = Prepared(statement, sources)
        return found

    def plan(self, dialect: Dialect) -> Plan:
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = self._build(dialect)
        return found

    def _build(self, dialect: Dialect) -> Plan:
        quote = dialect.identifier_preparer.quote
        fields = [*((name, column) for name, column in self.match),
                  *((c, c) for c in self.columns)]
        params, arrays, names = [], [], []
        for i, (source, column) in enumerate(fields):
            kind = self.table.c[column].type
            params.append(_Param(source, f"p{i}",
                                 kind.dialect_impl(dialect).bind_processor(dialect), _REQUIRED))
            arrays.append(f"%(p{i})b::{kind.compile(dialect=dialect)}[]")  # binary: no quoting
            names.append(quote(f"v{i}"))
        rows = f"unnest({', '.join(arrays)}) AS v({', '.join(names)})"
        table = quote(self.table.name)
        if not self.match:
            sql = (f"INSERT INTO {table} ({', '.join(quote(c) for c in self.columns)}) "
                   f"SELECT * FROM {rows}")
            if self.on_conflict_do_nothing:
                sql += " ON CONFLICT DO NOTHING"
        else:
            offset = len(self.match)
            sets = ", ".join(f"{quote(c)} = v.{names[offset + i]}"
                             for i, c in enumerate(self.columns))
            where = " AND ".join(f"{table}.{quote(column)} = v.{names[i]}"
                                 for i, (_, column) in enumerate(self.match))
            sql = f"UPDATE {table} SET {sets} FROM {rows} WHERE {where}"
        return Plan(sql, tuple(params), positional=False)

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Write ``rows``; returns how many rows were inserted or changed."""
        if conn.dialect.name != "postgresql" or len(rows) < 2:
            return self.rowwise(conn.dialect.name).executemany(conn, rows)
        plan = self.plan(conn.dialect)
        arrays: dict[str, list[Any]] = {}
        for param in plan.params:
            process, source = param.process, param.source
            if process is None:
                arrays[param.key] = [row[source] for row in rows]
                continue
            out, seen, made = [], _REQUIRED, None  # one object shared by rows: processed once
            for row in rows:
                raw = row[source]
                if raw is not seen:
                    seen, made = raw, process(raw)
                out.append(made)
            arrays[param.key] = out
        with _cursor(conn, plan.sql) as cursor:
            cursor.execute(plan.sql, arrays)
            return int(cursor.rowcount)

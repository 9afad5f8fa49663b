"""Which database, how to open it, and bringing its schema up to date.

    engine = connect()                      # --db / ENGINE_DB / sqlite:///nurture.db, migrated
    engine = connect("postgresql://u@host/nurture")

:func:`connect` applies pending migrations itself, so every verb can simply call it; a database
already at the newest revision costs one ``SELECT`` on ``alembic_version``. Two processes that
start at once are safe: on PostgreSQL the upgrade runs under a transaction-level advisory lock, on
SQLite inside ``BEGIN IMMEDIATE`` (one writer at a time); the second process then finds the work
done. PostgreSQL and SQLite both run DDL transactionally here, so a failed upgrade leaves the
database at its previous revision, never half-migrated.
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine, make_url

DEFAULT_URL = "sqlite:///nurture.db"
ENV_VAR = "ENGINE_DB"
SQLITE_BUSY_TIMEOUT_MS = 15_000
MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: any constant that other applications on the server will not use.
ADVISORY_LOCK_KEY = zlib.crc32(b"nurture-engine:migrations")


class DatabaseError(Exception):
    """A database the engine cannot use as configured (bad URL, newer schema than this engine).
    The CLI reports it as a usage error (exit 2)."""


def database_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The URL to use: ``url`` (from ``--db``), else $ENGINE_DB, else ``sqlite:///nurture.db``
    (a file in the working directory). ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    env = os.environ if environ is None else environ
    chosen = url or env.get(ENV_VAR) or DEFAULT_URL
    if chosen.startswith("postgres://"):
        chosen = "postgresql://" + chosen.removeprefix("postgres://")
    if chosen.startswith("postgresql://"):
        chosen = "postgresql+psycopg://" + chosen.removeprefix("postgresql://")
    try:
        parsed = make_url(chosen)
    except sa.exc.ArgumentError:
        raise DatabaseError(f"not a database URL: {chosen!r} (expected sqlite:///FILE or "
                            "postgresql://USER@HOST/NAME)") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {backend!r}: use sqlite:///FILE or "
                            "postgresql://USER@HOST/NAME")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise DatabaseError(f"folder {str(folder)!r} for the SQLite database does not exist")
    return chosen


def display_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine with the store's connection settings, schema untouched (see :func:`connect`).

    SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout, and real
    transactions: pysqlite's own transaction handling is switched off (it would not wrap DDL, and
    starts transactions late) and every SQLAlchemy ``begin()`` emits ``BEGIN`` itself;
    ``execution_options(sqlite_begin="IMMEDIATE")`` takes the write lock up front (see
    :func:`write_transaction`). PostgreSQL: session time zone UTC, connections pre-pinged.
    """
    url = database_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        connect_args = {"options": "-c timezone=UTC", **kwargs.pop("connect_args", {})}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver: we send BEGIN ourselves
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN (``BEGIN
    IMMEDIATE``), so it waits for busy_timeout instead of failing with SQLITE_BUSY halfway."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


# ---------------------------------------------------------------- migrations


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic Config for the packaged migrations (there is no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this engine knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config())
                     .walk_revisions())


def current_revision(conn: Connection) -> str | None:
    """The database's revision; None for a database the engine never touched."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True, slots=True)
class Upgrade:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade(engine: Engine) -> Upgrade:
    """Bring the schema to the newest revision; a no-op (one read) when it is there already."""
    head = head_revision()
    with engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
    _check_known(before)
    if before == head:
        return Upgrade(before, head)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        before = current_revision(conn)  # another process may have done it while we waited
        _check_known(before)
        if before != head:
            from alembic import command

            command.upgrade(alembic_config(conn), "head")
    return Upgrade(before, head)


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise DatabaseError(f"the database is at schema revision {revision!r}, which this "
                            f"engine does not know (newest known: {head_revision()!r}): it was "
                            "upgraded by a newer engine; upgrade the engine")


def connect(url: str | None = None, **kwargs: Any) -> Engine:
    """Open the store (``url``, else $ENGINE_DB, else ``sqlite:///nurture.db``), migrating it to
    the newest schema first if needed. Returns a SQLAlchemy Engine."""
    engine = make_engine(database_url(url), **kwargs)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def unindexed(column: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[str]:
    """A text column as SQLite's planner cannot look it up in an index (``column || ''``),
    for a query that names a few rows by key: SQLite has no table statistics here, and given
    ``id IN (...)`` beside ``flow = ?`` or ``status IN (...)`` it takes the flow's or the
    status's index and reads every row under it, for every batch. (SQLAlchemy renders no
    ``INDEXED BY`` hint for SQLite.) PostgreSQL plans by its statistics: unchanged."""
    return column.concat("") if dialect == "sqlite" else column


def among(column: sa.ColumnElement[Any], values: Iterable[Any], dialect: str,
          ) -> sa.ColumnElement[bool]:
    """``column IN (values)`` with the values as ONE bound parameter: a JSON array read by
    ``json_each`` on SQLite, an array and ``= ANY(...)`` on PostgreSQL. The tick and the gate
    name a batch of up to a thousand leads in a statement; SQLAlchemy's ``in_`` makes a
    parameter of each (coerced, then rendered into the SQL at every run), which cost more
    Python than the query itself, and PostgreSQL then parses and plans a thousand
    placeholders. Both plans look each value up in the column's index."""
    listed = list(values)
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, listed, type_=ARRAY(column.type)))
    each = sa.func.json_each(sa.bindparam(None, json.dumps(listed), type_=sa.Text))
    return column.in_(sa.select(each.table_valued("value").c.value))

"""``power()`` on SQLite: score decay needs it, and SQLite has it only when built with its math
functions (3.35+, SQLITE_ENABLE_MATH_FUNCTIONS). Where it is missing, a deterministic Python
function of the same name is registered on every new connection.

    engine = connect(url)
    ensure_power(engine)      # a no-op on PostgreSQL, and on SQLite builds that have power()
"""

from __future__ import annotations

import functools
import math
import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _power(base: float | None, exponent: float | None) -> float | None:
    if base is None or exponent is None:
        return None
    try:
        return math.pow(base, exponent)
    except (OverflowError, ValueError):
        return None


def has_power(dbapi_connection: Any) -> bool:
    try:
        dbapi_connection.execute("SELECT power(0.5, 1.0)").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


@functools.cache
def builtin_power() -> bool:
    """Whether this process's SQLite library has power() (every connection shares the library)."""
    conn = sqlite3.connect(":memory:")
    try:
        return has_power(conn)
    finally:
        conn.close()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not has_power(dbapi_connection):
        dbapi_connection.create_function("power", 2, _power, deterministic=True)


def ensure_power(engine: Engine) -> None:
    """Make ``power(x, y)`` available on the engine's SQLite connections (idempotent; nothing
    to do where SQLite has it built in, as on SQLite 3.35+ built with math functions)."""
    if engine.dialect.name != "sqlite" or builtin_power():
        return
    if sa.event.contains(engine, "connect", _on_connect):
        return
    sa.event.listen(engine, "connect", _on_connect)
    # Pooled connections opened before the listener get it when they are opened again (an
    # in-memory database would be lost: register before its first use).
    engine.dispose()

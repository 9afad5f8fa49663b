"""``power()`` on SQLite: score decay needs it, and SQLite has it only when built with its math
functions (3.35+, SQLITE_ENABLE_MATH_FUNCTIONS). Where it is missing, a deterministic Python
function of the same name is registered on every new connection.

    engine = connect(url)
    ensure_power(engine)      # a no-op on PostgreSQL, and on SQLite builds that have power()
"""

from __future__ import annotations

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


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not has_power(dbapi_connection):
        dbapi_connection.create_function("power", 2, _power, deterministic=True)


def ensure_power(engine: Engine) -> None:
    """Make ``power(x, y)`` available on the engine's SQLite connections (idempotent)."""
    if engine.dialect.name != "sqlite" or sa.event.contains(engine, "connect", _on_connect):
        return
    sa.event.listen(engine, "connect", _on_connect)
    engine.dispose()  # connections opened before the listener get it on their next opening

"""The database's plan for a statement, as text lines: for benchmarks, tests and operators.

    with engine.connect() as conn:
        print("\\n".join(explain(conn, stmt)))

SQLite gives ``EXPLAIN QUERY PLAN`` (``SEARCH events USING INDEX ix_... (lead_id=? AND ...)``),
PostgreSQL ``EXPLAIN`` (``Index Scan using ix_... on events``). ``analyze=True`` on PostgreSQL
runs the statement and reports real row counts and times (``EXPLAIN (ANALYZE, BUFFERS)``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` in front of a statement, compiled with the statement's bound parameters."""

    inherit_cache = False  # plans are for people: no need to cache the compiled form

    def __init__(self, statement: ClauseElement, analyze: bool = False) -> None:
        self.statement = statement
        self.analyze = analyze


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    elif name == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if element.analyze else "EXPLAIN "
    else:
        raise NotImplementedError(f"explain() knows SQLite and PostgreSQL, not {name}")
    return prefix + compiler.process(element.statement, **kw)


def explain(conn: Connection, statement: ClauseElement, analyze: bool = False) -> list[str]:
    """The plan's lines (SQLite: one ``detail`` per node, indented by depth)."""
    rows = conn.execute(Explain(statement, analyze)).all()
    if conn.dialect.name != "sqlite":
        return [str(row[0]) for row in rows]
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines

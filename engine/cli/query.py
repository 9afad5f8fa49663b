"""`engine query "CONDITION" [PATH] [--db URL] [--at T] [--format table|json|csv] [--limit N]`:
who matches a condition, counted and listed by the database."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.workspace import UsageError

if TYPE_CHECKING:
    from dsl import ast as A
    from engine.conditions.model import Context

TABLE_ROWS = 20


def parse_time(text: str | None, option: str = "--at") -> dt.datetime:
    """``--at``: ``2026-11-23`` (midnight UTC), ``2026-11-23T09:00`` (UTC) or with an offset;
    None: now."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date or date-time (e.g. 2026-11-23 or "
                         "2026-11-23T09:00+09:00)") from None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def load_definitions(path: str) -> tuple[list[A.Module], Context]:
    """The folder's modules and a context over their definitions (parse errors are fatal)."""
    from dsl import symbols
    from engine.conditions.model import Context
    from engine.workspace import load

    ws = load([path], check=False)
    errors = [d for d in ws.diagnostics if d.is_error]
    if errors:
        raise UsageError(f"{path}: {len(errors)} syntax error(s) in the flows, the first: "
                         f"{errors[0].message}; run `engine check {path}`")
    return ws.modules, Context(symbols.build(ws.modules))


def referenced(cond: A.Condition, ctx: Context) -> list[str]:
    """Attributes, tiers and scores the condition names, in order: shown as columns."""
    from dsl import ast as A
    from dsl.checks.walk import nodes

    out: dict[str, None] = {}
    for node in nodes(cond):
        if isinstance(node, A.Name) and ctx.symbols.kind_of(node.name) in (
                "attribute", "tier", "score") and node.name not in ("email", "company"):
            out[node.name] = None
    return list(out)


@click.command()
@click.argument("condition")
@click.argument("path", default="flows")
@DB_OPTION
@click.option("--at", "at_text", metavar="TIME", default=None,
              help="evaluate at this moment (default: now), e.g. 2026-11-23T09:00+09:00")
@click.option("--format", "fmt_", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="table for people (first rows); json / csv: every lead")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help=f"at most N leads listed (default: {TABLE_ROWS} in a table, all otherwise)")
@click.option("--timeout", type=click.IntRange(min=1), default=300, show_default=True,
              help="seconds before PostgreSQL cancels the query")
def query(condition: str, path: str, db_url: str | None, at_text: str | None, fmt_: str,
          limit: int | None, timeout: int) -> None:
    """Count and list the leads matching CONDITION, using the definitions (tiers, scores,
    segments) of the flows in PATH (default: flows/).

    The condition runs inside the database, exactly as flows select their audiences. Exit 0 on
    success (also when nobody matches), 1 when the condition has an error (printed), 2 on a
    usage or database error.
    """

    def body() -> int:
        from dsl.diagnostics import render_all
        from engine.conditions.text import QUERY_FILE, parse_condition, query_source

        at = parse_time(at_text)
        modules, ctx = load_definitions(path)
        cond, diags = parse_condition(condition, modules)
        if cond is None:
            click.echo(render_all(diags, {QUERY_FILE: query_source(condition)}), err=True)
            return 1
        shown = limit if limit is not None else (TABLE_ROWS if fmt_ == "table" else None)
        with store_errors():
            count, names, rows = run(cond, ctx, at, db_url, shown, timeout)
        output(fmt_, condition, at, count, names, rows)
        return 0

    sys.exit(guarded(body))


def run(cond: A.Condition, ctx: Context, at: dt.datetime, db_url: str | None,
        limit: int | None, timeout: int) -> tuple[int, list[str], list[tuple[Any, ...]]]:
    """(number of matching leads, column names, the first ``limit`` rows), in one transaction."""
    import sqlalchemy as sa

    from engine.conditions.compile import Compiled, Compiler
    from engine.conditions.sqlite_math import ensure_power
    from engine.store import db as store
    from engine.store import fields
    from engine.store.schema import leads

    engine = store.connect(db_url)
    try:
        ensure_power(engine)
        compiler = Compiler(ctx, at, engine.dialect.name)
        where = compiler.condition(cond)
        names = ["id", "email", "company", *referenced(cond, ctx)]
        columns: list[Any] = [leads.c.id, leads.c.email, leads.c.company]
        for name in names[3:]:
            kind = ctx.symbols.kind_of(name)
            if kind == "attribute":
                columns.append(fields.attribute(name, ctx.custom_types).expr)
            elif kind == "tier":
                columns.append(compiler.tier(name))
            else:
                columns.append(compiler.score_value(name))
        # Generic labels: names from flows never become SQL identifiers.
        labelled = [c.label(f"c{i}") for i, c in enumerate(columns)]
        source = Compiled(where, compiler.joins).from_()
        with engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout) * 1000}")
            count = int(conn.execute(sa.select(sa.func.count()).select_from(source)
                                     .where(where)).scalar_one())
            select = (sa.select(*labelled).select_from(source).where(where)
                      .order_by(leads.c.id).limit(limit))
            rows = [tuple(r) for r in conn.execute(select)] if limit != 0 else []
    finally:
        engine.dispose()
    return count, names, rows


def cell(value: Any) -> Any:
    """A value for display and JSON: dates as ISO text, scores rounded."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 2)
    return value


def output(fmt_: str, condition: str, at: dt.datetime, count: int, names: list[str],
           rows: list[tuple[Any, ...]]) -> None:
    if fmt_ == "json":
        click.echo(json.dumps({"condition": condition, "at": at.isoformat(), "count": count,
                               "leads": [dict(zip(names, map(cell, r), strict=True))
                                         for r in rows]}, ensure_ascii=False, indent=2))
        return
    if fmt_ == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else cell(v) for v in r] for r in rows])
        return
    from rich.table import Table

    from engine.cli.common import console as make_console

    console = make_console()
    noun = "lead matches" if count == 1 else "leads match"
    console.print(f"{count:,} {noun} at {at.isoformat(timespec='seconds')}: {condition}",
                  markup=False, highlight=False)
    if not rows:
        return
    table = Table(*names, show_lines=False)
    for r in rows:
        table.add_row(*("unknown" if v is None else str(cell(v)) for v in r))
    if len(rows) < count:
        table.caption = (f"the first {len(rows)} of {count:,}; --limit N for more, "
                         "--format csv or json for all")
    console.print(table)

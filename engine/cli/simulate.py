"""`engine simulate PATH --from D1 --to D2 [--every 1d]`: ticks over a copy of the store with the
clock moving, a summary per day of what would be sent, handed off and deferred."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.cli.query import parse_time
from engine.workspace import UsageError

DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
EVERY = re.compile(r"^\s*(\d+)\s*(m|min|minutes?|h|hours?|d|days?)\s*$")


def parse_every(text: str | None) -> dt.timedelta | None:
    if text is None:
        return None
    m = EVERY.match(text)
    if m is None or int(m.group(1)) == 0:
        raise UsageError(f"--every {text!r}: write a number and a unit, e.g. 1d, 6h, 30m")
    unit = m.group(2)[0]
    n = int(m.group(1))
    return {"m": dt.timedelta(minutes=n), "h": dt.timedelta(hours=n),
            "d": dt.timedelta(days=n)}[unit]


@click.command()
@click.argument("path", default="flows")
@DB_OPTION
@click.option("--from", "start_text", metavar="TIME", required=True, help="first moment")
@click.option("--to", "end_text", metavar="TIME", required=True,
              help="last moment (a date alone: to the end of that day, UTC)")
@click.option("--every", "every_text", metavar="N[m|h|d]", default=None,
              help="tick every flow this often (default: each flow on its own schedule)")
@click.option("--format", "fmt_", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def simulate(path: str, db_url: str | None, start_text: str, end_text: str,
             every_text: str | None, fmt_: str) -> None:
    """Simulate the flows in PATH from --from to --to; the store is not changed.

    Exit 0 when simulated, 2 on a usage, flow or database error."""

    def body() -> int:
        from engine.config import load_settings
        from engine.runtime.model import Folder
        from engine.runtime.runner import simulate as run_simulation
        from engine.store import db as store

        start, end = parse_time(start_text, "--from"), parse_time(end_text, "--to")
        if DATE_ONLY.match(end_text):  # "to December 5" takes in December 5
            end += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        if end < start:
            raise UsageError("--to comes before --from")
        if end - start > dt.timedelta(days=400):
            raise UsageError("simulate at most 400 days at a time")
        every = parse_every(every_text)
        folder = Folder.load([path])
        with store_errors():
            days = run_simulation(store.connect(db_url), folder, start, end, every,
                                  load_settings())
        if fmt_ == "json":
            click.echo(json.dumps([d.__dict__ for d in days], indent=2))
            return 0
        from rich.table import Table

        from engine.cli.common import console

        table = Table(title=f"simulated {start.date()} to {end.date()} (nothing was kept)",
                      title_justify="left")
        for column in ("day", "ticks", "entered", "sent", "notified", "handed off",
                       "deferred", "blocked"):
            table.add_column(column, justify="left" if column == "day" else "right",
                             no_wrap=column == "day")
        for d in days:
            table.add_row(d.day, str(d.ticks), str(d.entered), str(d.sent), str(d.notified),
                          str(d.handed_off), str(d.deferred), str(d.blocked))
        console().print(table)
        return 0

    sys.exit(guarded(body))

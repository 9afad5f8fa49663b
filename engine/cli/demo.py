"""`engine demo [--leads N] [--seed S] [--at T] [--db URL] [--reset]`: fill the store with demo
data.

Deterministic: the same N, seed and T give the same rows. T defaults to the start of today (UTC),
so that relative conditions ("in last 30 days") find the demo's audiences today; pass ``--at`` to
reproduce a data set exactly on another day.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.workspace import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def parse_at(text: str | None, now: dt.datetime | None = None) -> dt.datetime:
    """``2026-11-23`` (midnight UTC), ``2026-11-23T09:00`` (UTC), ``2026-11-23T09:00+09:00``;
    None: the start of today in UTC.

    >>> parse_at("2026-11-23T09:00+09:00").isoformat()
    '2026-11-23T00:00:00+00:00'
    """
    if text is None:
        now = now or dt.datetime.now(dt.UTC)
        return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at {text!r} is not a date or date-time (e.g. 2026-11-23 or "
                         "2026-11-23T09:00+09:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@click.command()
@click.option("--leads", "n_leads", type=click.IntRange(min=1), default=5000, show_default=True,
              help="how many leads to generate (about 19 events each)")
@click.option("--seed", type=int, default=1, show_default=True,
              help="the same seed (and --at) gives the same data")
@click.option("--at", "at_text", metavar="TIME", default=None,
              help="T: every event happens before it (default: the start of today, UTC)")
@click.option("--reset", is_flag=True,
              help="empty a filled store first: deletes EVERY lead, event, suppression and "
                   "enrollment in it")
@click.option("--flows", "flows", metavar="PATH", default="flows", show_default=True,
              help="afterwards, count each flow's entry audience here (skipped if absent)")
@DB_OPTION
def demo(n_leads: int, seed: int, at_text: str | None, reset: bool, flows: str,
         db_url: str | None) -> None:
    """Fill the lead store with realistic demo leads and two years of their events.

    Japanese and English companies and people, size tiers, industries, titles, stages (dormant
    customers, recycled leads, new leads...), custom attributes of flows/shared.flow
    (renewal_date...), and behaviour every example flow looks for: exhibition visitors back on
    the site, topic readers, pricing-page readers, newsletters with 10-20% opens.

    A store that already holds leads or events is left alone (exit 2) unless --reset is given.
    Emails use example.com / example.co.jp / example.jp only. Exit 0 when filled, 2 on a usage or
    database error.
    """

    def body() -> int:
        from engine.demo.store import StoreNotEmpty, fill
        from engine.store import db as store

        at = parse_at(at_text)
        with store_errors():
            url = store.database_url(db_url)
            engine = store.connect(url)
            try:
                result = fill(engine, n_leads, seed, at, reset=reset)
                click.echo(f"{store.display_url(url)}: {result.leads:,} leads, "
                           f"{result.events:,} events, {result.suppressions:,} suppressions "
                           f"(seed {seed}, events before {at.isoformat()}) in "
                           f"{result.seconds:.1f} s")
                if Path(flows).is_dir():
                    show_audiences(engine, Path(flows), at)
            except StoreNotEmpty as exc:
                raise UsageError(
                    f"{store.display_url(url)}: {exc}; `engine demo` fills an empty store "
                    "only. Use --reset to delete everything in it first, or --db to choose "
                    "another database.") from None
            finally:
                engine.dispose()
        return 0

    sys.exit(guarded(body))


def show_audiences(engine: Engine, folder: Path, at: dt.datetime) -> None:
    from engine.demo.audiences import audience_sizes, flow_audiences

    sizes = audience_sizes(engine, flow_audiences(folder), at)
    click.echo(f"Entry audiences at {at.isoformat()} ({folder}/; an `enter on` trigger counts "
               "the last day's events):")
    width = max((len(name) for name, _ in sizes), default=0)
    for name, n in sizes:
        click.echo(f"  {name:<{width}}  {n:>7,}")

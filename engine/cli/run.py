"""`engine run PATH [--once] [--at T]`: the main job.

Without ``--once``, APScheduler ticks each flow on its schedule (time zones honoured) and delivers
what is due every ``--deliver-every`` seconds, until SIGINT / SIGTERM; then it finishes the batch
in hand and stops. With ``--once``: one tick of every flow at T (default now), then everything
due is delivered, and it exits (for cron and CI)."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from typing import Any

import click

from engine.cli.common import check_delivery_settings, guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.cli.query import parse_time
from engine.workspace import UsageError


@click.command()
@click.argument("path", default="flows")
@DB_OPTION
@click.option("--once", is_flag=True, help="one tick of every flow, deliver what is due, exit")
@click.option("--at", "at_text", metavar="TIME", default=None,
              help="the clock for --once (default: now), e.g. 2026-11-24T09:30+09:00")
@click.option("--flow", "only", metavar="NAME", multiple=True, help="run only this flow")
@click.option("--no-deliver", is_flag=True, help="write the outbox only; deliver nothing")
@click.option("--deliver-every", type=click.IntRange(min=1), default=30, show_default=True,
              help="seconds between delivery rounds (without --once)")
def run(path: str, db_url: str | None, once: bool, at_text: str | None, only: tuple[str, ...],
        no_deliver: bool, deliver_every: int) -> None:
    """Run the flows in PATH (default: flows/) against the lead store.

    Exit 0 when done (or stopped by a signal), 2 on a usage, configuration, flow or database
    error.
    """

    def body() -> int:
        from engine.config import load_settings
        from engine.runtime.model import Folder
        from engine.store import db as store

        if at_text is not None and not once:
            raise UsageError("--at needs --once (a running engine follows the real clock)")
        folder = Folder.load([path])
        names = set(only) or None
        unknown = (names or set()) - {f.name for f in folder.flows}
        if unknown:
            raise UsageError(f"no flow named {', '.join(sorted(unknown))} in {path}")
        settings = load_settings()
        if not no_deliver:
            check_delivery_settings(settings)
        with store_errors():
            engine = store.connect(db_url)
            if once:
                return run_once_cli(engine, folder, parse_time(at_text), settings, names,
                                    not no_deliver)
            return serve_forever(engine, folder, settings, names, not no_deliver, deliver_every)

    sys.exit(guarded(body))


def run_once_cli(engine: Any, folder: Any, at: dt.datetime, settings: Any,
                 only: set[str] | None, deliver: bool) -> int:
    from engine.runtime.runner import run_once

    report = run_once(engine, folder, at, settings, deliver=deliver, only=only)
    print_report(report)
    stopped = getattr(report.delivery, "stopped", None)
    if stopped:  # the relay refused our sender or is down: an operator must look
        click.echo(f"engine: delivery stopped: {stopped}", err=True)
        return 2
    return 0


def print_report(report: Any) -> None:
    from rich.table import Table

    from engine.cli.common import console as make_console

    console = make_console()
    table = Table(title=f"tick at {report.at.isoformat()}", title_justify="left")
    for column in ("flow", "entered", "advanced", "exited", "goal", "actions"):
        table.add_column(column, justify="left" if column in ("flow", "actions") else "right",
                         overflow="fold")
    for t in report.ticks:
        actions = ", ".join(f"{k} {v}" for k, v in sorted(t.actions.items())) or "-"
        table.add_row(t.flow, str(t.entered), str(t.advanced), str(t.exited), str(t.goals),
                      actions)
    console.print(table)
    g, h = report.gate, report.handoffs
    console.print(f"policy gate: {g.allowed} may go, {g.deferred} deferred, {g.blocked} blocked; "
                  f"hand-offs: {h.assigned} assigned, {h.waiting} waiting for capacity")
    if report.delivery is not None:
        console.print(report.delivery.summary(), highlight=False)


def serve_forever(engine: Any, folder: Any, settings: Any, only: set[str] | None,
                  deliver: bool, deliver_every: int) -> int:
    """APScheduler with in-memory jobs only; a lock keeps one tick or delivery at a time in
    this process (the database keeps processes apart)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from engine.runtime.runner import deliver_due, run_once
    from engine.runtime.schedule import trigger_for
    from engine.store.keep import signing_secret

    lock = threading.Lock()
    stop = threading.Event()
    secret = signing_secret(engine, settings.secret)

    def tick(name: str) -> None:
        with lock:
            if stop.is_set():
                return
            at = dt.datetime.now(dt.UTC)
            report = run_once(engine, folder, at, settings, deliver=False, only={name})
            print_report(report)

    def delivery() -> None:
        with lock:
            if stop.is_set() or not deliver:
                return
            result = deliver_due(engine, folder, dt.datetime.now(dt.UTC), settings, secret)
            if any(result.counts.values()):
                click.echo(result.summary())

    scheduler = BackgroundScheduler(timezone=dt.UTC, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    for fr in folder.flows:
        if only is not None and fr.name not in only:
            continue
        trigger = trigger_for(fr.schedule, folder.window.default_zone)
        scheduler.add_job(tick, trigger, args=[fr.name], id=f"flow:{fr.name}")
        click.echo(f"{fr.name}: {trigger}")
    scheduler.add_job(delivery, "interval", seconds=deliver_every, id="delivery")

    def on_signal(signum: int, _frame: Any) -> None:
        click.echo(f"engine: {signal.Signals(signum).name}: finishing the batch in hand")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    scheduler.start()
    click.echo("engine: running; stop with Ctrl-C")
    stop.wait()
    scheduler.shutdown(wait=True)  # the job in hand finishes; no new one starts
    with lock:
        pass
    click.echo("engine: stopped")
    return 0

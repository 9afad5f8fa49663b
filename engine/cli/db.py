"""`engine db upgrade [--db URL]`: bring the lead store's schema to the newest revision.
`engine db resume-sending [DOMAIN]`: lift a pause of the complaint-rate breaker.

Every verb that opens the store migrates it on first use anyway (engine.store.db.connect); this
verb is for doing it explicitly, at deploy time, and seeing which revision the database is at.

``DB_OPTION`` (the ``--db URL`` option) and ``store_errors`` are for every verb that opens the
store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from engine.cli.common import guarded
from engine.workspace import UsageError

DB_OPTION = click.option(
    "--db", "db_url", metavar="URL", default=None,
    help="database URL (default: $ENGINE_DB, else sqlite:///nurture.db in this folder); "
         "e.g. sqlite:///path/leads.db or postgresql://user@host/nurture")


@click.group()
def db() -> None:
    """Manage the lead store's database."""


@db.command()
@DB_OPTION
def upgrade(db_url: str | None) -> None:
    """Create or migrate the database schema to the newest revision.

    Safe to run at any time, and from several processes at once. Exit 0 when the database is at
    the newest revision afterwards, 2 when it cannot be opened or was made by a newer engine.
    """

    def body() -> int:
        from engine.store import db as store

        with store_errors():
            url = store.database_url(db_url)
            engine = store.make_engine(url)
            try:
                result = store.upgrade(engine)
            finally:
                engine.dispose()
        where = store.display_url(url)
        if result.changed:
            was = f"revision {result.before}" if result.before else "an empty database"
            click.echo(f"{where}: upgraded to revision {result.after} (from {was})")
        else:
            click.echo(f"{where}: already at revision {result.after}, the newest")
        return 0

    sys.exit(guarded(body))


@db.command(name="resume-sending")
@click.argument("domain", required=False)
@DB_OPTION
def resume_sending(domain: str | None, db_url: str | None) -> None:
    """Resume marketing mail from DOMAIN, paused by the complaint-rate breaker (its complaint
    rate reached the ceiling, 0.3 % by default; docs/operations.md). Without DOMAIN, list the
    paused domains.

    Held sends go out at the next delivery round, and the rate is measured afresh from now.
    Exit 0 when resumed (or listed), 1 when DOMAIN is not paused, 2 on a usage or database
    error.
    """

    def body() -> int:
        import datetime as dt

        from engine.runtime import breaker
        from engine.store import db as store

        with store_errors():
            engine = store.connect(db_url)
            try:
                if domain is None:
                    with engine.connect() as conn:
                        stopped = breaker.paused(conn)
                    for each in stopped.values():
                        click.echo(each.reason)
                    if not stopped:
                        click.echo("no domain is paused")
                    return 0
                wanted = breaker.sending_domain(domain)
                with store.write_transaction(engine) as conn:
                    record = breaker.resume(conn, wanted, dt.datetime.now(dt.UTC), _actor())
                    others = sorted(breaker.paused(conn))
            finally:
                engine.dispose()
        if record is None:
            still = f" (paused: {', '.join(others)})" if others else " (no domain is paused)"
            click.echo(f"engine: {wanted} is not paused{still}", err=True)
            return 1
        click.echo(f"{wanted}: sending resumed (paused since "
                   f"{record.at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC at a complaint rate of "
                   f"{record.rate}); held sends go out at the next delivery round")
        return 0

    sys.exit(guarded(body))


def _actor() -> str:
    """Who resumed, for the audit entry: the operating-system user, if there is one."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn "cannot use this database" into a usage error (exit 2), not an internal error."""
    import sqlalchemy as sa

    from engine.store.db import DatabaseError

    try:
        yield
    except DatabaseError as exc:
        raise UsageError(str(exc)) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UsageError(f"cannot open the database: {reason}") from exc

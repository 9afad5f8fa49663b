"""Shared fixtures.

Databases (tests/pg.py starts the server):
- ``pg_server``: the session's PostgreSQL server (a ``tests.pg.PgServer``); started on first
  use, stopped at the end. Skips where no PostgreSQL binaries exist (printed loudly at the end of
  the run), fails instead when the environment variable CI is set.
- ``pg_url``: SQLAlchemy URL of the server's ``postgres`` database (shared: create your own).
- ``pg_database``: URL of a new, empty PostgreSQL database for one test, dropped afterwards.
- ``db_url``: parametrised: a new SQLite file in tmp_path, and a new PostgreSQL database (marked
  ``pg``), so that a store test runs against both.

Every test that uses PostgreSQL gets the ``pg`` marker (``-m "not pg"`` leaves them out).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.store.db import connect
from tests.pg import SKIPPED, PgServer, find_bindir, in_ci, server_for_tests

_databases = itertools.count(1)
PG_FIXTURES = {"pg_server", "pg_url", "pg_database"}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = server_for_tests()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    return pg_server.url()


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    with pg_server.database(f"test_{os.getpid()}_{next(_databases)}") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    """The lead store at ``db_url``, migrated (a module needing more defines its own)."""
    engine = connect(db_url)
    yield engine
    engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pg)


def pytest_report_header() -> str:
    bindir = find_bindir()
    if bindir is not None:
        return f"postgresql: {bindir}"
    if in_ci():
        return "postgresql: NOT FOUND, and CI is set: PostgreSQL tests will FAIL"
    return "postgresql: NOT FOUND: PostgreSQL tests will be SKIPPED"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SKIPPED:
        return
    terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED", red=True, bold=True)
    terminalreporter.write_line(f"  reason: {SKIPPED[0]}", red=True)
    terminalreporter.write_line("  The store is only half tested. Install PostgreSQL 15 "
                                "(Debian: apt-get install postgresql-15) or set PG_BINDIR; in CI "
                                "(CI=true) this is a failure, not a skip.", red=True)

"""The test PostgreSQL server itself: what it is, where it lives, and what happens without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import pg
from tests.pg import PgServer

ROOT = Path(__file__).resolve().parents[2]


def _settings(url: str, *names: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [conn.execute(sa.text(f"SHOW {name}")).scalar_one() for name in names]
    finally:
        engine.dispose()


def test_server_is_postgresql_15_on_loopback_with_fsync_off(pg_server: PgServer,
                                                           pg_url: str) -> None:
    version, listen, fsync, sockets = _settings(
        pg_url, "server_version_num", "listen_addresses", "fsync", "unix_socket_directories")
    assert int(version) // 10000 == 15
    assert listen == "127.0.0.1"
    assert fsync == "off"
    assert Path(sockets) == pg_server.socket_dir
    assert pg_server.socket_dir.is_relative_to(pg_server.root)
    assert f":{pg_server.port}/" in pg_url


def test_server_runs_as_an_unprivileged_user(pg_server: PgServer) -> None:
    owner = (pg_server.data / "postmaster.pid").stat().st_uid
    assert owner != 0
    if os.geteuid() == 0:
        assert pg_server.user is not None and owner == pg_server.user.pw_uid
    else:
        assert pg_server.user is None and owner == os.geteuid()


def test_each_test_gets_a_fresh_database(pg_database: str, pg_url: str) -> None:
    assert pg_database != pg_url
    engine = sa.create_engine(pg_database)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE scratch (x int)"))
    finally:
        engine.dispose()


def test_db_url_covers_both_databases(db_url: str) -> None:
    assert db_url.split(":", 1)[0] in ("sqlite", "postgresql+psycopg")


@pytest.mark.pg
@pytest.mark.slow
def test_a_server_can_be_started_and_stopped_alone() -> None:
    if pg.find_bindir() is None:
        pytest.skip("no PostgreSQL binaries")
    with PgServer.start() as server:
        assert _settings(server.url(), "fsync") == ["off"]
        root = server.root
    assert not root.exists()


def test_missing_binaries_skip_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BINDIR", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    before = len(pg.SKIPPED)
    with pytest.raises(pytest.skip.Exception):
        pg.server_for_tests()
    assert len(pg.SKIPPED) == before + 1
    del pg.SKIPPED[before:]  # this skip was staged: keep the end-of-run banner quiet


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_binaries_fail_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PG_BINDIR", "/nonexistent")
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="required when CI is set"):
        pg.server_for_tests()


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["", "true"])
def test_a_whole_run_without_postgresql(ci: str) -> None:
    """End to end: the skip is loud, and under CI it is a failure."""
    env = {**os.environ, "PG_BINDIR": "/nonexistent", "CI": ci}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         "tests/engine/test_pg_fixture.py::test_db_url_covers_both_databases"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    if ci:
        assert proc.returncode == 1, out
        assert "PostgreSQL is required when CI is set" in out
        assert "1 passed" in out and "1 error" in out
    else:
        assert proc.returncode == 0, out
        assert "PostgreSQL tests were SKIPPED" in out
        assert "1 passed, 1 skipped" in out

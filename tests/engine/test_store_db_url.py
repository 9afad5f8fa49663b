"""Choosing the database (--db, ENGINE_DB, the default file), connection settings, packaging."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.store import db

ROOT = Path(__file__).resolve().parents[2]


def test_default_is_nurture_db_in_the_working_directory() -> None:
    assert db.database_url(None, {}) == "sqlite:///nurture.db"


def test_engine_db_then_db_option() -> None:
    env = {"ENGINE_DB": "sqlite:///from-env.db"}
    assert db.database_url(None, env) == "sqlite:///from-env.db"
    assert db.database_url("sqlite:///from-option.db", env) == "sqlite:///from-option.db"


@pytest.mark.parametrize("given", ["postgres://u:pw@h:5433/n", "postgresql://u:pw@h:5433/n",
                                   "postgresql+psycopg://u:pw@h:5433/n"])
def test_postgresql_urls_mean_psycopg_3(given: str) -> None:
    url = db.database_url(given, {})
    assert url == "postgresql+psycopg://u:pw@h:5433/n"
    assert db.display_url(url) == "postgresql+psycopg://u:***@h:5433/n"


@pytest.mark.parametrize("given, message", [
    ("mysql://u@h/n", "unsupported database 'mysql'"),
    ("not a url", "not a database URL"),
    ("sqlite:///no/such/folder/x.db", "does not exist"),
])
def test_unusable_urls(given: str, message: str) -> None:
    with pytest.raises(db.DatabaseError, match=message):
        db.database_url(given, {})
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", given])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_uses_the_default_file_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGINE_DB", raising=False)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sqlite:///nurture.db: upgraded to revision")
    assert (tmp_path / "nurture.db").is_file()


def test_cli_uses_engine_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENGINE_DB", f"sqlite:///{tmp_path}/env.db")
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "env.db").is_file() and not (tmp_path / "nurture.db").exists()
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", "sqlite:///option.db"])
    assert result.exit_code == 0
    assert (tmp_path / "option.db").is_file()


def test_an_unreachable_server_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", "postgresql://u@127.0.0.1:1/n"])
    assert result.exit_code == 2
    assert result.output.startswith("engine: cannot open the database:")
    assert "internal error" not in result.output


def test_postgresql_sessions_are_in_utc(pg_database: str) -> None:
    engine = db.connect(pg_database)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW timezone")).scalar_one() == "UTC"
    engine.dispose()


def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path}/w.db")
    other = sqlite3.connect(tmp_path / "w.db", timeout=0, isolation_level=None)
    with db.write_transaction(engine) as conn:
        assert conn.in_transaction()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # released at commit
    other.execute("ROLLBACK")
    other.close()
    engine.dispose()


@pytest.mark.slow
def test_a_built_wheel_carries_the_migrations(tmp_path: Path) -> None:
    """A non-editable install must find env.py and the revisions as package data."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("engine", "dsl"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("engine/store/migrations/env.py", "engine/store/migrations/script.py.mako",
                   "engine/store/migrations/versions/0001_initial.py"):
        assert needed in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    code = ("import engine.store, sys; print(engine.store.__file__); "
            "from engine.cli import main; sys.argv[1:] = ['db', 'upgrade']; main()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site), "ENGINE_DB": ""},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(site))
    assert "upgraded to revision" in proc.stdout
    assert (work / "nurture.db").is_file()

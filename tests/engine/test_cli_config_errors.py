"""A bad configuration is the operator's to fix, whichever verb meets it: one line on stderr
naming the problem, exit 2, never "internal error ... a bug in the engine" (and no crash file).

Each verb that loads the settings is run as a user runs it (click's runner, the real store on
SQLite) with a missing DKIM key file, an unusable one, and a malformed engine.toml; the same
set-up with a good configuration succeeds, so the failures are the configuration's."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.store import db as store
from engine.store.schema import leads, outbox

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-12-01T09:00:00Z"
FLOW = """flow hello "Hello":
    schedule every day at 09:00 "UTC"
    enter when stage is "lead"
    send intro "dormant/intro.html" from "marketing@example.co.jp"
"""
GOOD = f'templates = "{ROOT / "templates"}"\n'
DKIM = GOOD + '[dkim]\ndomain = "example.co.jp"\nselector = "s1"\nkey = "{key}"\n'


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with one flow, a store holding one lead it sends to, engine.toml."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("ENGINE_")]:
        monkeypatch.delenv(name)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hello.flow").write_text(FLOW, encoding="utf-8")
    (tmp_path / "engine.toml").write_text(GOOD, encoding="utf-8")
    engine = store.connect(f"sqlite:///{tmp_path}/store.db")
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(leads.insert().values(
            email="sato@example.jp", stage="lead", consent=True, language="ja", country="JP",
            legal_basis="exhibition badge scan, 2026-10", created_at=now, updated_at=now))
    engine.dispose()
    return tmp_path


def verb(name: str, here: Path) -> list[str]:
    db = ["--db", f"sqlite:///{here}/store.db"]
    return {
        "run": ["run", "flows", "--once", "--at", AT, *db],
        "plan": ["plan", "flows", "--at", AT, *db],
        "preview": ["preview", "dormant/intro.html", "--lead", "sato@example.jp", *db],
        "simulate": ["simulate", "flows", "--from", "2026-12-01", "--to", "2026-12-02", *db],
        "serve": ["serve", "--port", "1", *db],  # never reaches the port
    }[name]


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr


def assert_config_error(code: int, err: str, *named: str) -> None:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("engine: configuration error: "), err
    assert "internal error" not in err and "bug" not in err and "Traceback" not in err
    for text in named:
        assert text in lines[0], err


def crash_files() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob("engine-crash-*.txt"))


@pytest.mark.parametrize("name", ["run", "plan", "preview"])
def test_a_missing_dkim_key_file_is_a_configuration_error(here: Path, name: str) -> None:
    missing = here / "keys" / "dkim.pem"
    (here / "engine.toml").write_text(DKIM.format(key=missing), encoding="utf-8")
    crashes = crash_files()
    code, _, err = invoke(verb(name, here))
    assert_config_error(code, err, f"DKIM key {missing}: no such file")
    assert crash_files() == crashes


@pytest.mark.parametrize("name", ["run", "plan", "preview"])
def test_an_unusable_dkim_key_is_a_configuration_error(here: Path, name: str) -> None:
    folder = here / "keys"
    folder.mkdir()
    garbage = folder / "dkim.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n"
                        b"-----END PRIVATE KEY-----\n")
    for key, problem in ((garbage, "not a PEM RSA private key"), (folder, "is a folder")):
        (here / "engine.toml").write_text(DKIM.format(key=key), encoding="utf-8")
        code, _, err = invoke(verb(name, here))
        assert_config_error(code, err, str(key), problem)


@pytest.mark.parametrize("name", ["run", "plan", "preview", "simulate", "serve"])
def test_a_malformed_engine_toml_is_a_configuration_error(here: Path, name: str) -> None:
    (here / "engine.toml").write_text('tracking_url = "https://t.example.co.jp\n[dkim\n',
                                      encoding="utf-8")
    code, _, err = invoke(verb(name, here))
    assert_config_error(code, err, "engine.toml")


@pytest.mark.parametrize("name", ["run", "plan", "preview", "simulate", "serve"])
def test_a_bad_value_in_engine_toml_names_it(here: Path, name: str) -> None:
    (here / "engine.toml").write_text(GOOD + 'site_url = "ftp://www.example.co.jp"\n',
                                      encoding="utf-8")
    code, _, err = invoke(verb(name, here))
    assert_config_error(code, err, "site URL", "ftp://www.example.co.jp")


def test_serve_names_a_bad_tracking_table(here: Path) -> None:
    (here / "engine.toml").write_text(GOOD + "[tracking.limits]\nhook_body = -1\n",
                                      encoding="utf-8")
    code, _, err = invoke(verb("serve", here))
    assert_config_error(code, err, "[tracking.limits]", "hook_body")


def test_run_checks_the_delivery_settings_before_it_ticks(here: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick must not write intents that delivery then cannot send; --no-deliver needs no
    delivery settings at all."""
    monkeypatch.setenv("ENGINE_SMTP_URL", "ftp://relay.example.co.jp")
    code, _, err = invoke(verb("run", here))
    assert_config_error(code, err, "SMTP URL", "smtp://")
    engine = store.connect(f"sqlite:///{here}/store.db")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == 0
    code, _, err = invoke([*verb("run", here), "--no-deliver"])
    assert code == 0, err
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == 1
    engine.dispose()


def test_the_same_set_up_with_a_good_configuration_works(here: Path) -> None:
    for name in ("plan", "preview", "run"):
        code, out, err = invoke(verb(name, here))
        assert code == 0, (name, err)
    assert list((here / "mail").glob("*.eml"))  # run --once delivered to the mail folder


def test_a_long_running_engine_run_stops_at_once_on_a_missing_key(here: Path) -> None:
    """Without --once the delivery rounds run in the scheduler's threads, where a missing key
    would fail every 30 seconds forever: it is refused before the scheduler starts."""
    (here / "engine.toml").write_text(DKIM.format(key=here / "gone.pem"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "engine", "run", "flows", "--db",
                           f"sqlite:///{here}/store.db"], cwd=here, capture_output=True,
                          text=True, timeout=60)
    assert_config_error(done.returncode, done.stderr, "gone.pem")

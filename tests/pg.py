"""A throwaway PostgreSQL server for the test session (the Debian postgresql-15 binaries).

The server lives in a temporary directory: data, log and unix socket; it listens on a free
loopback port with trust authentication, fsync off (a test database need not survive a power
cut), and is stopped and removed at the end. PostgreSQL refuses to run as root, so when the tests
run as root (CI does) every server command runs as the unprivileged ``postgres`` system user
(created by the Debian package), in a directory handed over to that user.

Used by tests/conftest.py (fixtures ``pg_server``, ``pg_url``, ``db_url``); usable alone:

    with PgServer.start() as server:
        url = server.create_database("scratch")
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SUPERUSER = "engine"
RUN_AS = ("postgres", "nobody")  # system users to run the server as when we are root


class PgUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (the caller decides: skip, or fail in CI)."""


def find_bindir() -> Path | None:
    """Where initdb / pg_ctl / postgres live: $PG_BINDIR when set (and then only there: a way to
    test the "no PostgreSQL" path), else `pg_config --bindir`, else /usr/lib/postgresql/15/bin
    (the version the project targets), else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    elif shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass
    if not os.environ.get("PG_BINDIR"):
        candidates.append("/usr/lib/postgresql/15/bin")
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        path = Path(candidate)
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in RUN_AS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgUnavailable(f"running as root and none of the users {RUN_AS} exists to run "
                        "PostgreSQL (it refuses to run as root)")


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None = None
    log: Path = field(init=False)
    _running: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "server.log"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, bindir: Path | None = None, attempts: int = 3) -> PgServer:
        """initdb and start a server; retries on another port if the chosen one was taken."""
        bindir = bindir or find_bindir()
        if bindir is None:
            raise PgUnavailable("PostgreSQL binaries not found (looked at $PG_BINDIR, "
                                "`pg_config --bindir`, /usr/lib/postgresql/*/bin); install the "
                                "Debian package postgresql-15")
        user = _run_as_user()
        # /tmp rather than $TMPDIR: the postgres user must be able to reach it, and a unix
        # socket path must stay under ~100 bytes.
        root = Path(tempfile.mkdtemp(prefix="engine-pg-",
                                     dir="/tmp" if os.path.isdir("/tmp") else None))
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(bindir, root, free_port(), user)
        atexit.register(server.stop)
        try:
            server._initdb()
            for attempt in range(attempts):
                try:
                    server._start()
                    return server
                except subprocess.CalledProcessError:
                    if attempt == attempts - 1:
                        raise
                    server.port = free_port()
        except BaseException:
            server.stop()
            raise
        raise AssertionError("unreachable")

    def _cmd(self, *args: str) -> list[str]:
        if self.user is None:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", self.user.pw_name, "--", *args]
        return ["su", "-s", "/bin/sh", self.user.pw_name, "-c", shlex.join(args)]

    def _exec(self, *args: str, timeout: float = 60) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        proc = subprocess.run(self._cmd(*args), cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(
                proc.returncode, args, output=proc.stdout,
                stderr=f"{proc.stderr}\n--- server log (tail) ---\n{log}")

    def _initdb(self) -> None:
        self._exec(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                   "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
        self._exec("mkdir", "-p", str(self.socket_dir))

    def _start(self) -> None:
        options = " ".join([
            f"-p {self.port}", f"-k {self.socket_dir}", "-c listen_addresses=127.0.0.1",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c jit=off", "-c max_connections=50", "-c shared_buffers=32MB",
        ])
        self._exec(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                   "-o", options, "-w", "-t", "60", "start", timeout=90)
        self._running = True

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a checkpoint) and remove it."""
        if self._running:
            self._running = False
            try:
                self._exec(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop", timeout=60)
            except (subprocess.SubprocessError, OSError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------- databases

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE / DROP DATABASE need that)."""
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                                     dbname="postgres", autocommit=True) as conn:
                    conn.execute(sql)  # type: ignore[arg-type]
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        _check_name(name)
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def database(self, name: str) -> Iterator[str]:
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)


def server_for_tests() -> PgServer:
    """Start the session's server, or skip the test (no binaries here), or fail it (no binaries
    in CI, where PostgreSQL tests must run; or binaries that do not start)."""
    import pytest

    try:
        return PgServer.start()
    except PgUnavailable as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required when CI is set, and: {exc}", pytrace=False)
        SKIPPED.append(str(exc))
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"PostgreSQL did not start: {shlex.join(exc.cmd)} exited {exc.returncode}\n"
                    f"{exc.stderr}", pytrace=False)


SKIPPED: list[str] = []  # why PostgreSQL tests were skipped: printed loudly at the end


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 60:
        raise ValueError(f"bad database name {name!r}")

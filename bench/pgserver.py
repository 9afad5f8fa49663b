"""A PostgreSQL 15 server for benchmarks, kept between commands (the tests' is throwaway).

    .venv/bin/python bench/pgserver.py start /tmp/bench-pg     # prints the database URL
    .venv/bin/python bench/pgserver.py stop /tmp/bench-pg

Same binaries and user handling as tests/pg.py, with settings for a 2-core / 24 GiB machine
instead of the tests' minimal ones: 4 GB shared buffers, JIT off (as in PERFORMANCE.md), large
maintenance memory for index builds, durability as shipped (fsync on) except that the WAL may
grow to 16 GB between checkpoints during a bulk load.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pg import PgServer, _run_as_user, find_bindir, free_port  # noqa: E402

DATABASE = "bench"
SETTINGS = {
    "shared_buffers": "4GB", "effective_cache_size": "16GB", "work_mem": "64MB",
    "maintenance_work_mem": "2GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min",
    "jit": "off", "max_connections": "20", "listen_addresses": "127.0.0.1",
}


class BenchServer(PgServer):
    def _start(self) -> None:
        options = " ".join([f"-p {self.port}", f"-k {self.socket_dir}"]
                           + [f"-c {k}={v}" for k, v in SETTINGS.items()])
        self._exec(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                   "-o", options, "-w", "-t", "120", "start", timeout=150)
        self._running = True


def _server(root: Path) -> BenchServer:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries (install postgresql-15 or set PG_BINDIR)")
    port_file = root / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    return BenchServer(bindir, root, port, _run_as_user())


def start(root: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    server = _server(root)
    if server.user is not None:
        os.chown(root, server.user.pw_uid, server.user.pw_gid)
    if not server.data.exists():
        server._initdb()
    (root / "port").write_text(str(server.port))
    server._start()
    try:
        server.create_database(DATABASE)
    except Exception as exc:  # noqa: BLE001 - it exists already after a restart
        if "already exists" not in str(exc):
            raise
    return server.url(DATABASE)


def stop(root: Path) -> None:
    server = _server(root)
    server._exec(str(server.bindir / "pg_ctl"), "-D", str(server.data), "-m", "fast", "-w",
                 "stop", timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("start", "stop"))
    ap.add_argument("root", type=Path, help="the server's folder (data, log, socket)")
    args = ap.parse_args()
    if args.action == "start":
        print(start(args.root))
    else:
        stop(args.root)


if __name__ == "__main__":
    main()

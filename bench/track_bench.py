"""Benchmark: the tracking server (`engine serve` on uvicorn) under load on loopback.

Run: .venv/bin/python bench/track_bench.py [--db URL] [--requests N] [--concurrency C]
                                            [--rounds R] [--max-seconds S]

Starts the real `engine serve` in a subprocess over a store with 1,000 sent messages (a temporary
SQLite file unless --db names one, e.g. the bench PostgreSQL of bench/pgserver.py), then drives
it from this process with httpx (async, C connections), in rounds of N requests capped at S
seconds, interleaved so that the machine's drift hits every kind alike:

- ``healthz``: the baseline: the same server, guard and uvicorn, no token, no store;
- ``click``: ``GET /c/{token}/{i}`` over the messages' links: verify, record (group commit),
  redirect with a visitor token and UTM;
- ``collect``: ``POST /collect`` page-view beacons of 200 visitors, half of them identified.

Prints a markdown table for docs/benchmarks.md: requests per second and p50 / p99 latency of
every kind, the median over the rounds, each kind's throughput relative to the baseline, and the
server process's CPU time per request (user + system, from /proc: unlike wall-clock rates, it
barely moves when other jobs load the machine). The load generator shares the 2 cores with the
server: the baseline shows that ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.mail.tokens import sign  # noqa: E402
from engine.store import db  # noqa: E402
from engine.store.schema import enrollments, events, leads, outbox  # noqa: E402
from tests.pg import free_port  # noqa: E402

SECRET = "bench-secret-" + "x" * 32
SITE = "https://www.example.co.jp"
MESSAGES = 1000
VISITORS = 200
# One client address makes all the load: the per-address rate limits are lifted.
CONFIG = """[tracking.limits]
rate_mail = [1000000, 1000000]
rate_collect = [1000000, 1000000]
"""


def seed(url: str) -> list[tuple[int, int]]:
    """1,000 leads with one sent message each (3 links); returns (lead id, outbox id)."""
    engine = db.connect(url)
    at = datetime.now(UTC) - timedelta(days=1)
    with db.write_transaction(engine) as conn:
        conn.execute(events.delete().where(events.c.source == "tracking"))
        conn.execute(sa.text("DELETE FROM anonymous_views"))
        conn.execute(sa.text("DELETE FROM identities"))
        prefix = secrets.token_hex(4)
        lead_ids = [conn.execute(leads.insert().values(
            email=f"bench-{prefix}-{i}@example.co.jp", created_at=at, updated_at=at)
            .returning(leads.c.id)).scalar_one() for i in range(MESSAGES)]
        out = []
        for lead in lead_ids:
            enrollment = conn.execute(enrollments.insert().values(
                flow="bench", version=1, lead_id=lead, step="intro", state="waiting",
                entered_at=at, updated_at=at).returning(enrollments.c.id)).scalar_one()
            outbox_id = conn.execute(outbox.insert().values(
                flow="bench", enrollment_id=enrollment, step="intro", occurrence=prefix,
                lead_id=lead, flow_version=1, action="send", template="t.html",
                payload={"links": [f"{SITE}/pricing", f"{SITE}/case", "https://x.example/"]},
                status="sent", next_attempt_at=at, created_at=at, updated_at=at, sent_at=at)
                .returning(outbox.c.id)).scalar_one()
            out.append((lead, outbox_id))
    engine.dispose()
    return out


def start_server(url: str, port: int, workdir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    env.update(ENGINE_SECRET=SECRET, ENGINE_SITE_ORIGINS=SITE,
               ENGINE_CONFIG=str(workdir / "engine.toml"))
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                             "--db", url], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"engine serve did not start: {proc.stderr and proc.stderr.read()}")
        time.sleep(0.1)


Make = Callable[[int], dict[str, object]]


def kinds(messages: list[tuple[int, int]]) -> dict[str, tuple[str, Make]]:
    secret = SECRET.encode()
    clicks = [f"/c/{sign(secret, 'click', outbox_id=o)}/{i % 2}"
              for i, (_, o) in enumerate(messages)]
    visitors = [secrets.token_urlsafe(16) for _ in range(VISITORS)]
    tokens = [sign(secret, "visit", lead_id=lead) if i % 2 else None
              for i, (lead, _) in enumerate(messages[:VISITORS])]
    agent = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36"}

    def click(n: int) -> dict[str, object]:
        return {"method": "GET", "url": clicks[n % len(clicks)], "headers": agent}

    def beacon(n: int) -> dict[str, object]:
        v = n % VISITORS
        body = {"kind": "view", "visitor": visitors[v], "view": secrets.token_urlsafe(16),
                "url": f"{SITE}/pricing", "title": "料金"}
        if tokens[v]:
            body["token"] = tokens[v]
        return {"method": "POST", "url": "/collect", "content": json.dumps(body),
                "headers": {**agent, "origin": SITE, "content-type": "text/plain"}}

    def health(n: int) -> dict[str, object]:
        return {"method": "GET", "url": "/healthz", "headers": agent}

    return {"healthz": ("200", health), "click": ("302", click), "collect": ("204", beacon)}


async def round_of(base: str, make: Callable[[int], dict[str, object]], expect: int,
                   requests: int, concurrency: int, max_seconds: float
                   ) -> tuple[float, list[float], int]:
    """(requests per second, latencies, unexpected answers) of one bounded round."""
    latencies: list[float] = []
    bad = 0
    counter = iter(range(requests))
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal bad
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                response = await client.request(**make(n))  # type: ignore[arg-type]
                latencies.append(time.perf_counter() - start)
                bad += response.status_code != expect

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies, bad


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="store URL (default: a temporary SQLite file)")
    ap.add_argument("--requests", type=int, default=3000, help="requests per round")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=20.0, help="cap of one round")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="track-bench-"))
    (workdir / "engine.toml").write_text(CONFIG, encoding="utf-8")
    url = args.db or f"sqlite:///{workdir}/store.db"
    messages = seed(url)
    port = free_port()
    proc = start_server(url, port, workdir)
    results: dict[str, list[tuple[float, list[float], int]]] = {}
    cpu: dict[str, list[float]] = {}
    try:
        plan = kinds(messages)
        for _ in range(args.rounds):
            for name, (expect, make) in plan.items():
                before = cpu_seconds(proc.pid)
                result = asyncio.run(round_of(
                    f"http://127.0.0.1:{port}", make, int(expect), args.requests,
                    args.concurrency, args.max_seconds))
                cpu.setdefault(name, []).append((cpu_seconds(proc.pid) - before)
                                                / max(1, len(result[1])))
                results.setdefault(name, []).append(result)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    engine = db.connect(url)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(events.c.type, sa.func.count())
                                   .where(events.c.source == "tracking")
                                   .group_by(events.c.type)).all())
        held = conn.execute(sa.text("SELECT count(*) FROM anonymous_views")).scalar_one()
    engine.dispose()
    backend = db.display_url(url).split(":")[0]
    print(f"store: {backend}; {args.rounds} rounds of up to {args.requests} requests "
          f"({args.concurrency} connections, {args.max_seconds:.0f} s cap); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"stored: {stored}, anonymous views held: {held}\n")
    print("| request | requests/s | p50 | p99 | vs healthz | server CPU / request "
          "| unexpected answers |")
    print("|---|---|---|---|---|---|---|")
    base = statistics.median(r[0] for r in results["healthz"])
    for name, rounds in results.items():
        rps = statistics.median(r[0] for r in rounds)
        lat = [x for r in rounds for x in r[1]]
        print(f"| {name} | {rps:,.0f} | {percentile(lat, 0.5) * 1000:.1f} ms | "
              f"{percentile(lat, 0.99) * 1000:.1f} ms | {rps / base:.2f} | "
              f"{statistics.median(cpu[name]) * 1000:.2f} ms | {sum(r[2] for r in rounds)} |")


if __name__ == "__main__":
    main()

"""Delivery benchmark: render and hand N personalised emails to a local SMTP sink through the
engine (claim, gate, render, ledger, aiosmtplib), against a bare aiosmtplib loop sending the same
messages pre-rendered over the same number of reused connections. Rounds are interleaved and
the ratio is what counts (absolute rates drift on a shared machine).

    .venv/bin/python bench/mail_bench.py --count 100000              # aiosmtpd sink
    .venv/bin/python bench/mail_bench.py --count 20000 --sink smtp-sink   # Postfix's C sink

The sink runs in its own process (in this process it would share the GIL with the client).
The store is a fresh SQLite file; the builder is engine.mail.render's Renderer on
templates/ja/dormant/intro.html.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.delivery import deliver_due  # noqa: E402
from engine.delivery.build import renderer_build  # noqa: E402
from engine.delivery.gate import RowView, load_leads  # noqa: E402
from engine.delivery.policy import WorkerOptions  # noqa: E402
from engine.mail.tokens import message_id  # noqa: E402
from engine.store import db  # noqa: E402
from engine.store.schema import enrollments, leads, outbox  # noqa: E402

SECRET = b"bench-secret"
TEMPLATE = "dormant/intro.html"
FIRST = ["太郎", "花子", "健", "Emma", "Kenji", "由美", "Hiroshi", "Aiko"]
LAST = ["佐藤", "鈴木", "高橋", "Tanaka", "Watanabe", "伊藤", "Yamamoto", "中村"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_aiosmtpd(port: int) -> None:
    """The sink process: accept and drop everything."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 Ok: queued"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def start_sink(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "smtp-sink":
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        command = [binary, *user, f"127.0.0.1:{port}", "1000"]
    else:
        command = [sys.executable, __file__, "--serve", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.3)
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the {kind} sink did not start")


def make_store(path: Path, count: int) -> sa.Engine:
    engine = db.connect(f"sqlite:///{path}")
    at = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(leads.insert(), [
            {"email": f"lead{i}@example.co.jp", "first_name": FIRST[i % 8],
             "last_name": LAST[i % 7], "company": f"株式会社サンプル{i % 97}", "language": "ja",
             "consent": True, "stage": "customer", "created_at": at, "updated_at": at}
            for i in range(count)])
        conn.execute(enrollments.insert(), [
            {"flow": "revive_dormant", "version": 1, "lead_id": i + 1, "step": "intro",
             "state": "waiting", "entered_at": at, "updated_at": at} for i in range(count)])
        conn.execute(outbox.insert(), [
            {"flow": "revive_dormant", "enrollment_id": i + 1, "step": "intro",
             "occurrence": "1", "lead_id": i + 1, "flow_version": 1, "action": "send",
             "template": TEMPLATE,
             "payload": {"sender_owner": False, "sender_address": None},
             "message_id": message_id(SECRET, f"revive_dormant:{i + 1}:intro:1",
                                      "mail.example.co.jp"),
             "status": "pending", "next_attempt_at": at - timedelta(seconds=1),
             "created_at": at, "updated_at": at} for i in range(count)])
    return engine


def reset(engine: sa.Engine) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(outbox.update().values(status="pending", attempts=0, claimed_by=None,
                                            lease_until=None, sent_at=None, relay_id=None,
                                            next_attempt_at=past))


def prerender(engine: sa.Engine, build: Any) -> list[tuple[str, str, bytes]]:
    with engine.connect() as conn:
        rows = [RowView(r._mapping) for r in conn.execute(sa.select(outbox))]
        people = load_leads(conn, (r["lead_id"] for r in rows))
    messages = []
    for row in rows:
        built = build(row, people[row["lead_id"]])
        messages.append((built.sender, built.recipient, built.data))
    return messages


async def bare_loop(port: int, messages: list[tuple[str, str, bytes]], connections: int) -> int:
    import aiosmtplib

    queue = iter(messages)
    sent = 0

    async def one() -> None:
        nonlocal sent
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await smtp.connect()
        for sender, recipient, data in queue:
            await smtp.sendmail(sender, [recipient], data)
            sent += 1
        await smtp.quit()

    await asyncio.gather(*(one() for _ in range(connections)))
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sink", choices=("aiosmtpd", "smtp-sink"), default="aiosmtpd")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_aiosmtpd(args.serve)
        return
    from engine.mail.render import Renderer

    folder = Path(tempfile.mkdtemp(prefix="mail-bench-"))
    sink, port = start_sink(args.sink)
    try:
        started = time.perf_counter()
        engine = make_store(folder / "store.db", args.count)
        print(f"store: {args.count} leads and outbox rows in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        settings = Settings(smtp_url=f"smtp://127.0.0.1:{port}?tls=none&timeout=60"
                            f"&pool={args.connections}", mail_dir=folder / "mail",
                            templates=ROOT / "templates")
        build = renderer_build(Renderer(settings, SECRET))
        started = time.perf_counter()
        messages = prerender(engine, build)
        render_rate = len(messages) / (time.perf_counter() - started)
        size = statistics.mean(len(m[2]) for m in messages)
        print(f"render only: {render_rate:,.0f} messages/s (mean {size:,.0f} bytes)", flush=True)
        worker = WorkerOptions(id="bench", batch=args.batch)
        bare: list[float] = []
        engine_times: list[float] = []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            sent = asyncio.run(bare_loop(port, messages, args.connections))
            bare.append(time.perf_counter() - started)
            reset(engine)
            started = time.perf_counter()
            report = deliver_due(engine, settings, build=build, worker=worker)
            engine_times.append(time.perf_counter() - started)
            assert sent == args.count and report.counts["sent"] == args.count, report.summary()
            print(f"round {round_ + 1}: bare {args.count / bare[-1]:,.0f}/s, engine "
                  f"{args.count / engine_times[-1]:,.0f}/s, ratio "
                  f"{engine_times[-1] / bare[-1]:.2f}x", flush=True)
        ratios = [e / b for e, b in zip(engine_times, bare, strict=True)]
        print(f"\n| sink | messages | connections | rounds | bare aiosmtplib (median) | "
              f"engine: render + ledger + send (median) | ratio (median of rounds) |\n"
              f"|---|---|---|---|---|---|---|\n| {args.sink} | {args.count:,} | "
              f"{args.connections} | {args.rounds} | "
              f"{args.count / statistics.median(bare):,.0f} /s | "
              f"{args.count / statistics.median(engine_times):,.0f} /s | "
              f"**{statistics.median(ratios):.2f}x** ({', '.join(f'{r:.2f}' for r in ratios)}) |")
        print(f"load average: {os.getloadavg()[0]:.1f}")
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

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
import threading
import time
from collections.abc import Callable
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


def serve_aiosmtpd(port: int, every: int) -> None:
    """The sink process: accept and drop everything; print "COUNT MONOTONIC-TIME" after every
    ``every`` messages (the same cost for the baseline and the engine), so the bench can show
    the rate slice by slice."""
    from aiosmtpd.controller import Controller

    class Sink:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.received += 1
            if every and self.received % every == 0:
                print(self.received, time.monotonic(), flush=True)
            return "250 2.0.0 Ok: queued"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


class Sink:
    """The sink process, and the progress marks it prints (aiosmtpd only)."""

    def __init__(self, kind: str, every: int) -> None:
        self.port = free_port()
        self.every = every
        self.marks: list[float] = []  # monotonic time of every ``every``-th message
        if kind == "smtp-sink":
            binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
            user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
            command = [binary, *user, f"127.0.0.1:{self.port}", "1000"]
        else:
            command = [sys.executable, __file__, "--serve", str(self.port), "--slice",
                       str(every)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.3)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"the {kind} sink did not start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            fields = line.split()
            if len(fields) == 2:
                self.marks.append(float(fields[1]))

    def slices(self, started: float, ended: float) -> str:
        """Messages per second between the marks printed from ``started`` to ``ended``."""
        times = [started, *(t for t in self.marks if started <= t <= ended)]
        rates = [f"{self.every / (b - a):,.0f}"
                 for a, b in zip(times, times[1:], strict=False) if b > a]
        return " ".join(rates) or "-"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def sched(pid: int, threads: str = "*") -> tuple[float, float]:
    """Seconds a process has run on a CPU (all its threads, ended ones included: /proc/PID/stat)
    and seconds the ``threads`` still alive waited for a CPU while ready to run (the other work
    on the machine: /proc/PID/task/*/schedstat). Linux only."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ran = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    waited = 0
    for stat in Path(f"/proc/{pid}/task").glob(f"{threads}/schedstat"):
        try:
            waited += int(stat.read_text().split()[1])
        except OSError:  # the thread ended meanwhile
            continue
    return ran, waited / 1e9


def snapshot(sink: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The client (this process; waits of its event loop thread) and the sink, now."""
    return sched(os.getpid(), str(threading.get_native_id())), sched(sink)


def usage(before: tuple[tuple[float, float], tuple[float, float]],
          after: tuple[tuple[float, float], tuple[float, float]], count: int) -> str:
    """Per message: CPU of the client and of the sink, and how long the client's event loop
    thread and the sink waited for a CPU."""
    (client_ran, client_waited), (sink_ran, sink_waited) = (
        ((a[0] - b[0]) / count * 1e6, (a[1] - b[1]) / count * 1e6)
        for a, b in zip(after, before, strict=True))
    return (f"per message: client CPU {client_ran:.0f} us + waited {client_waited:.0f} us, "
            f"sink CPU {sink_ran:.0f} us + waited {sink_waited:.0f} us")


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


def timed(sink: Sink, count: int, run: Callable[[], int]) -> tuple[float, str]:
    """Run one phase (``run`` returns how many messages it sent); its seconds and a line on
    its CPU use and its rate slice by slice."""
    before = snapshot(sink.process.pid)
    started_at = time.monotonic()
    started = time.perf_counter()
    sent = run()
    seconds = time.perf_counter() - started
    ended_at = time.monotonic()
    time.sleep(0.1)  # the sink's last mark
    assert sent == count, f"sent {sent} of {count}"
    use = usage(before, snapshot(sink.process.pid), count)
    return seconds, (f"{count / seconds:,.0f}/s; {use}; per {sink.every:,} messages: "
                     f"{sink.slices(started_at, ended_at)} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sink", choices=("aiosmtpd", "smtp-sink"), default="aiosmtpd")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--slice", type=int, default=10_000,
                        help="print the rate per this many messages (aiosmtpd sink)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_aiosmtpd(args.serve, args.slice)
        return
    from engine.mail.render import Renderer

    folder = Path(tempfile.mkdtemp(prefix="mail-bench-"))
    sink = Sink(args.sink, args.slice)
    try:
        started = time.perf_counter()
        engine = make_store(folder / "store.db", args.count)
        print(f"store: {args.count} leads and outbox rows in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        settings = Settings(smtp_url=f"smtp://127.0.0.1:{sink.port}?tls=none&timeout=60"
                            f"&pool={args.connections}", mail_dir=folder / "mail",
                            templates=ROOT / "templates")
        build = renderer_build(Renderer(settings, SECRET))
        started = time.perf_counter()
        messages = prerender(engine, build)
        render_rate = len(messages) / (time.perf_counter() - started)
        size = statistics.mean(len(m[2]) for m in messages)
        print(f"render only: {render_rate:,.0f} messages/s (mean {size:,.0f} bytes)", flush=True)
        worker = WorkerOptions(id="bench", batch=args.batch)

        def baseline() -> int:
            return asyncio.run(bare_loop(sink.port, messages, args.connections))

        def delivery() -> int:
            reset(engine)
            return deliver_due(engine, settings, build=build, worker=worker).counts["sent"]

        bare: list[float] = []
        engine_times: list[float] = []
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} (load average {os.getloadavg()[0]:.1f})", flush=True)
            seconds, line = timed(sink, args.count, baseline)
            bare.append(seconds)
            print(f"  bare:   {line}", flush=True)
            seconds, line = timed(sink, args.count, delivery)
            engine_times.append(seconds)
            print(f"  engine: {line}", flush=True)
            print(f"  ratio {engine_times[-1] / bare[-1]:.2f}x", flush=True)
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
        sink.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

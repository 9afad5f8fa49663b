"""The example flows over a demo store, for the whole-runtime tests: ticks day after day with
delivery and the leads' responses simulated, and the store's durable effects read back as plain
sets that two stores (or a plan and a run) can be compared by.

    engine = demo_store(url, 400)
    for at in moments(60):
        run_once(engine, folder(), at, SETTINGS, deliver=False)
        next_day(engine, at)      # delivery (due sends marked sent), then the leads' answers

Everything is deterministic: the demo data (seed, T), and the responses (a stable hash of the
outbox row's key decides who opens, clicks, visits pricing, asks for a demo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import selectors
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.config import Settings
from engine.demo.store import fill
from engine.runtime.model import Folder
from engine.store.db import connect, write_transaction
from engine.store.schema import enrollments, events, journal, lead_tags, leads, outbox

ROOT = Path(__file__).resolve().parents[3]
FLOWS = ROOT / "flows"
SECRET = "runtime-test-secret-not-for-production"
SETTINGS = Settings(secret=SECRET)
START = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)  # the demo data's T: every event is before it
DAILY = dt.time(1, 0)  # 10:00 in Tokyo: inside the policy's sending window on business days
# Extra moments after a day's tick: 23:59 and 04:30 in Tokyo (outside the sending window: the
# gate defers), 15:17, and a tick seven minutes after the morning's.
ODD = (dt.timedelta(hours=14, minutes=59), dt.timedelta(hours=19, minutes=30),
       dt.timedelta(hours=5, minutes=17), dt.timedelta(minutes=7))
JOURNAL_ACTIONS = {"set": "set", "tag": "tag", "exit": "exit", "goal": "goal",
                   "completed": "complete"}


@cache
def folder() -> Folder:
    """flows/ as `engine run flows` loads it (parsed and compiled once per test session)."""
    return Folder.load([str(FLOWS)])


def demo_store(url: str, leads_count: int, seed: int = 1) -> Engine:
    """A migrated store at ``url`` filled by `engine demo` (the same seed gives the same rows)."""
    engine = connect(url)
    fill(engine, leads_count, seed, START)
    return engine


def moments(days: int, odd_every: int = 9) -> list[dt.datetime]:
    """One moment a day at 01:00 UTC from the day after the demo's T, and every ``odd_every``
    days one of the off-hour moments of ODD after it: strictly increasing."""
    out: list[dt.datetime] = []
    for d in range(1, days + 1):
        at = dt.datetime.combine(START.date() + dt.timedelta(days=d), DAILY, dt.UTC)
        out.append(at)
        if d % odd_every == 0:
            out.append(at + ODD[(d // odd_every) % len(ODD)])
    return out


# ---------------------------------------------------------------- the world between ticks


def deliver(engine: Engine, at: dt.datetime) -> int:
    """What delivery does with the due intents, without mail: mark them sent at T (so caps and
    `wait until clicked ...` see them)."""
    with write_transaction(engine) as conn:
        return int(conn.execute(outbox.update().where(
            outbox.c.status == "pending", outbox.c.next_attempt_at <= at,
            outbox.c.action.in_(("send", "notify")))
            .values(status="sent", sent_at=at, updated_at=at)).rowcount)


def _roll(*parts: object) -> float:
    """A stable number in [0, 1) for these parts (not Python's salted hash)."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def respond(engine: Engine, at: dt.datetime) -> int:
    """The leads' answers to what was sent at T, five minutes later: some open, fewer click
    (and then read the pricing page or case studies), a few ask for a demo or a contact, and
    inside sales recycles a few leads (stage change), and opens a deal with a few whose next
    email is still held by the policy (so the next tick's exit cancels it). Returns the events
    written."""
    when = at + dt.timedelta(minutes=5)
    rows: list[dict[str, Any]] = []
    recycled: list[int] = []
    with write_transaction(engine) as conn:
        sent = conn.execute(sa.select(outbox.c.id, outbox.c.lead_id, outbox.c.flow,
                                      outbox.c.step, outbox.c.template)
                            .where(outbox.c.action == "send", outbox.c.sent_at == at)
                            .order_by(outbox.c.id)).all()
        for r in sent:
            roll = _roll(r.flow, r.lead_id, r.step, at.isoformat())
            base = {"lead_id": r.lead_id, "occurred_at": when, "flow": r.flow, "step": r.step,
                    "template": r.template, "source": "tracking"}
            if roll < 0.30:
                rows.append({**base, "type": "email_open"})
            if roll < 0.12:
                rows.append({**base, "type": "email_click",
                             "link": "https://www.example.co.jp/pricing"})
                rows.append({"lead_id": r.lead_id, "occurred_at": when, "type": "page_view",
                             "url": "/pricing/plans", "source": "tracking"})
            if roll < 0.04:
                rows.append({"lead_id": r.lead_id, "occurred_at": when, "type": "form_submit",
                             "form": "demo-request" if roll < 0.02 else "contact",
                             "source": "tracking"})
            if 0.97 < roll:
                rows.append({"lead_id": r.lead_id, "occurred_at": when, "type": "download",
                             "asset": "wp-invoice-2026", "source": "tracking"})
            if 0.95 < roll < 0.96:
                recycled.append(int(r.lead_id))
        if rows:
            keys = sorted({k for row in rows for k in row})  # executemany: the same keys
            conn.execute(events.insert(), [{k: row.get(k) for k in keys} for row in rows])
        held = conn.execute(sa.select(outbox.c.lead_id).distinct()
                            .where(outbox.c.action == "send", outbox.c.status == "deferred")
                            .order_by(outbox.c.lead_id)).scalars().all()
        deals = [int(i) for i in held if _roll("deal", i, at.isoformat()) < 0.1]
        changes = [(i, "recycle", ("lead", "dormant", "mql")) for i in recycled]
        changes += [(i, "opportunity", ("lead", "dormant", "recycle", "customer"))
                    for i in deals]
        for lead_id, to, from_ in changes:
            stage = conn.execute(sa.select(leads.c.stage)
                                 .where(leads.c.id == lead_id)).scalar()
            if stage in from_:
                conn.execute(leads.update().where(leads.c.id == lead_id)
                             .values(stage=to, updated_at=when))
                conn.execute(events.insert().values(
                    lead_id=lead_id, type="stage_change", occurred_at=when, from_stage=stage,
                    to_stage=to, source="crm"))
    return len(rows) + len(changes)


def next_day(engine: Engine, at: dt.datetime) -> None:
    deliver(engine, at)
    respond(engine, at)


# ---------------------------------------------------------------- what a tick did


def _status(row: Any) -> str:
    """An outbox row's status as the plan names it."""
    if row.action == "handoff":
        return "assigned" if row.status == "sent" else str(row.status)
    return "will send" if row.status == "pending" else str(row.status)


def run_actions(engine: Engine, at: dt.datetime) -> Counter[tuple[Any, ...]]:
    """What the committed tick at T did, read from the store: outbox rows created or changed at
    T (and sends still due), and the journal's attribute, tag, exit, goal and completion rows
    of T. Keyed like :func:`plan_actions`."""
    out: Counter[tuple[Any, ...]] = Counter()
    with engine.connect() as conn:
        for r in conn.execute(
                sa.select(outbox, leads.c.email).join(leads, leads.c.id == outbox.c.lead_id)
                .where(sa.or_(outbox.c.created_at == at, outbox.c.updated_at == at,
                              sa.and_(outbox.c.status == "pending",
                                      outbox.c.next_attempt_at <= at,
                                      outbox.c.action.in_(("send", "notify")))))):
            template = r.template if r.action in ("send", "notify") else None
            out[(r.flow, r.step, r.action, r.email, template, _status(r), r.occurrence)] += 1
        for r in conn.execute(
                sa.select(journal, leads.c.email).join(leads, leads.c.id == journal.c.lead_id)
                .where(journal.c.at == at, journal.c.event.in_(list(JOURNAL_ACTIONS)))):
            out[(r.flow, r.step, JOURNAL_ACTIONS[r.event], r.email, None, "done", None)] += 1
    return out


def plan_actions(actions: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter((a["flow"], a["step"], a["action"], a["email"], a.get("template"),
                    a["status"], a.get("occurrence")) for a in actions)


# ---------------------------------------------------------------- a store's durable state


def state(engine: Engine, message_ids: bool = False) -> dict[str, Counter[tuple[Any, ...]]]:
    """Everything ticks write, keyed by what identifies it across two stores (lead emails, not
    ids that a rolled-back transaction may have used up): outbox intents with their status and
    due time, enrollments with their step and state, the journal (every row: a duplicate shows
    as a count of 2), tags, and the leads' stages. ``message_ids``: the intents' Message-IDs
    too, which derive from enrollment ids (equal only where the ids are: SQLite reuses the ids
    of a rolled-back insert, a PostgreSQL sequence does not)."""
    extra = [outbox.c.message_id] if message_ids else []
    with engine.connect() as conn:
        return {
            "outbox": _counter(conn, sa.select(
                outbox.c.flow, outbox.c.step, outbox.c.occurrence, leads.c.email,
                outbox.c.template, outbox.c.action, outbox.c.status, outbox.c.next_attempt_at,
                *extra).join(leads, leads.c.id == outbox.c.lead_id)),
            "enrollments": _counter(conn, sa.select(
                enrollments.c.flow, leads.c.email, enrollments.c.entry_number,
                enrollments.c.step, enrollments.c.state, enrollments.c.wake_at,
                enrollments.c.ended_at).join(leads, leads.c.id == enrollments.c.lead_id)),
            "journal": _counter(conn, sa.select(
                journal.c.at, journal.c.flow, journal.c.step, journal.c.event, leads.c.email)
                .join(leads, leads.c.id == journal.c.lead_id)),
            "tags": _counter(conn, sa.select(leads.c.email, lead_tags.c.tag)
                             .join(leads, leads.c.id == lead_tags.c.lead_id)),
            "stages": _counter(conn, sa.select(leads.c.email, leads.c.stage)),
        }


def _counter(conn: Connection, query: sa.Select[Any]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in conn.execute(query))


def raw_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a tick writes, as stored (ids, revisions, times included)."""
    with engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
                for t in (outbox, enrollments, journal, lead_tags, leads, events)}


def differences(a: Counter[tuple[Any, ...]], b: Counter[tuple[Any, ...]],
                limit: int = 8) -> str:
    """What only one side has (a readable assertion message)."""
    only_a, only_b = a - b, b - a
    lines = [f"{sum(only_a.values())} only on the left, {sum(only_b.values())} only on the right"]
    lines += [f"  < {k} x{n}" for k, n in sorted(only_a.items(), key=str)[:limit]]
    lines += [f"  > {k} x{n}" for k, n in sorted(only_b.items(), key=str)[:limit]]
    return "\n".join(lines)


# ---------------------------------------------------------------- `engine run` as a process


# The same `engine run` with smaller batches than the engine's (500), so that even a small
# store gives many commits per flow (more places for a kill to land; two processes interleave
# batch by batch), and a line on standard error when the tick's database work starts and ends
# and after each of its commits that wrote something (numbered), so that a test can aim its
# kills at the tick rather than at the interpreter's start-up, or between two given commits.
INSTRUMENTED = """
import sys
import engine.runtime.gate as gate
import engine.runtime.runner as runner
import engine.runtime.tick as tick

tick.Tick.__init__.__defaults__ = ({batch},)
gate.GATE_BATCH = {batch}
process = runner.process
commit = tick.Unit.commit
commits = 0
changes = {{}}  # SQLite connection -> its total_changes at its last commit


# Whether the transaction about to commit wrote anything: a tick also commits batches that
# only read, and a kill after one of those interrupts nothing.
def wrote(conn):
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        before, changes[driver] = changes.get(driver), driver.total_changes
        return changes[driver] != before
    return conn.in_transaction() and conn.exec_driver_sql(
        "SELECT pg_current_xact_id_if_assigned() IS NOT NULL").scalar()


def counted(self):
    global commits
    writing = wrote(self.conn)
    commit(self)
    if writing:
        commits += 1
        print(f"TICK-COMMIT {{commits}}", file=sys.stderr, flush=True)


tick.Unit.commit = counted


def marked(*args, **kwargs):
    print("TICK-START", file=sys.stderr, flush=True)
    try:
        return process(*args, **kwargs)
    finally:
        print("TICK-END", file=sys.stderr, flush=True)


runner.process = marked
from engine.cli import main

main()
"""


def run_command(at: dt.datetime, url: str, batch: int | None = None) -> list[str]:
    """`engine run flows/ --once --no-deliver --at T --db URL`, as an operator's cron runs it
    (with ``batch``: the same command, instrumented as INSTRUMENTED says)."""
    head = ["-m", "engine"] if batch is None else ["-c", INSTRUMENTED.format(batch=batch)]
    return [sys.executable, *head, "run", str(FLOWS), "--once", "--no-deliver",
            "--at", at.isoformat(), "--db", url]


def stderr_lines(proc: subprocess.Popen[bytes], timeout: float,
                 ) -> Iterator[tuple[float, bytes]]:
    """The process's standard error line by line, each with when it was read (a perf_counter
    time), until the process closes it. AssertionError if the time runs out first."""
    assert proc.stderr is not None
    deadline = time.perf_counter() + timeout
    pending = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while True:
            left = deadline - time.perf_counter()
            assert left > 0, f"the process still ran after {timeout} s: {pending[-2000:]!r}"
            if not sel.select(left):
                continue
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                return
            *lines, pending = (pending + chunk).split(b"\n")
            now = time.perf_counter()
            for line in lines:
                yield now, line


def run_env() -> dict[str, str]:
    """The environment of those processes: this checkout importable, the tests' signing secret
    (message ids are derived from it, so two stores can be compared), no other engine setting,
    and a wide terminal so that the printed report is one line per flow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    env["ENGINE_SECRET"] = SECRET
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "200"
    return env


def start_run(at: dt.datetime, url: str, cwd: Path, batch: int | None = None,
              stdout: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(run_command(at, url, batch), cwd=cwd, env=run_env(),
                            stdout=stdout, stderr=subprocess.PIPE)


def reported(output: str) -> dict[str, tuple[int, ...]]:
    """flow -> (entered, advanced, exited, goal, actions) from `engine run`'s printed table."""
    out: dict[str, tuple[int, ...]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6 and cells[1].isdigit():
            actions = sum(int(part.split()[-1]) for part in cells[5].split(",")
                          if part.strip() not in ("", "-"))
            out[cells[0]] = (*(int(c) for c in cells[1:5]), actions)
    return out

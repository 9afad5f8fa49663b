"""Benchmark: one tick of every example flow over a benchmark store, against hand-written SQL
for the same entry audiences, with the tick's peak memory.

    .venv/bin/python bench/gen_store.py --leads 100000 --sqlite /tmp/b100k.db
    .venv/bin/python bench/tick_bench.py --sqlite /tmp/b100k.db --sqlite /tmp/b1m.db [--pg URL]

The tick is `engine plan`'s code path, which is `engine run --once`'s (engine.runtime.runner):
every flow's tick (versions, exits, goal, entries, stepping every due enrollment), hand-offs and
the policy gate, in one transaction that is then rolled back. Nothing is kept, so a 4 GB store
needs no copy, and each repetition starts from the same state (on PostgreSQL, the dead rows
a rolled-back tick leaves are vacuumed before the next one, untimed). Not included: the plan's
listing of the actions and the rendering of subjects, which grow with the number of actions.

The baseline is the hand-written SQL of every flow's entry audience (bench/handwritten.py, the
fastest of its shapes on that database), each fetched in full, summed. The two are measured in
turns (hand-written, tick, hand-written, tick, ...) after one warm-up of each; the table shows
the medians. Each store is measured in a child process of its own, so that its peak memory
(ru_maxrss: the whole process, SQLite's page cache included) is that store's alone; the peak of
Python's own allocations during one tick (tracemalloc) is measured in a last, separate tick.
Where the tick's time goes: per phase, and the entries per flow.

The first tick over a fresh store enrolls every audience at once. A day later the work is
different (few entries; the enrollments' waits, branches and sends). To measure that tick:

    cp /tmp/b1m.db /tmp/b1m-day2.db
    .venv/bin/python bench/tick_bench.py --commit-first 2026-11-23 --sqlite /tmp/b1m-day2.db \
        --at 2026-11-24T00:00

``--commit-first T0`` commits a tick at T0 (and marks what it made due as delivered) before
measuring, unless the store already had one: it changes the store, so give it a copy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.audience_bench import bind  # noqa: E402
from bench.handwritten import params, queries  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.runtime import runner  # noqa: E402
from engine.runtime.model import Folder  # noqa: E402
from engine.runtime.tick import Tick, Unit  # noqa: E402
from engine.store.db import display_url, make_engine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("ensure_version", "check_exits", "check_goal", "enter", "advance_all",
          "remember_tick")
SECRET = b"benchmark-secret"


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# ---------------------------------------------------------------- timing the tick's phases


class Phases:
    """Wall-clock time per phase of the tick (and per flow for the entries), by wrapping the
    phase methods of engine.runtime.tick.Tick and the runner's gate and hand-off passes."""

    def __init__(self) -> None:
        self.times: dict[str, float] = defaultdict(float)

    def install(self) -> None:
        for name in PHASES:
            setattr(Tick, name, self._wrap(getattr(Tick, name), name, per_flow=name == "enter"))
        runner.gate_pass = self._wrap(runner.gate_pass, "gate")  # type: ignore[assignment]
        runner.handoff_pass = self._wrap(runner.handoff_pass,  # type: ignore[assignment]
                                         "handoffs")

    def _wrap(self, fn: Callable[..., Any], name: str, per_flow: bool = False,
              ) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.times[name] += spent
                if per_flow:
                    self.times[f"enter:{args[0].fr.name}"] += spent

        return timed

    def take(self) -> dict[str, float]:
        out, self.times = dict(self.times), defaultdict(float)
        return out


def tick(engine: sa.Engine, folder: Folder, at: dt.datetime) -> dict[str, Any]:
    """One tick of every flow at T, rolled back; the counts of what it did."""
    settings = Settings(secret=SECRET.decode())
    with runner.writer(engine) as conn:
        try:
            report = runner.process(Unit(conn, durable=False), folder, at, settings, SECRET)
        finally:
            start = time.perf_counter()
            conn.rollback()
            rollback = time.perf_counter() - start
    vacuum(engine)
    return {"entered": sum(t.entered for t in report.ticks),
            "advanced": sum(t.advanced for t in report.ticks),
            "intents": sum(sum(t.actions.values()) for t in report.ticks),
            "gate": [report.gate.allowed, report.gate.deferred, report.gate.blocked],
            "rollback_s": rollback}


TOUCHED = ("enrollments", "outbox", "journal", "lead_tags", "leads", "events", "flow_versions",
           "settings")


def vacuum(engine: sa.Engine) -> None:
    """PostgreSQL: a rolled-back tick leaves its rows behind as dead tuples, which the next
    tick would wade through; VACUUM them (not ANALYZE: the tables stay as gen_store.py left
    them), untimed. SQLite rolls back in place."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TOUCHED:
            conn.exec_driver_sql(f"VACUUM {table}")


# ---------------------------------------------------------------- hand-written audiences


def hand_written(engine: sa.Engine, flows: list[str], at: dt.datetime,
                 ) -> dict[str, tuple[str, sa.TextClause]]:
    """Each flow's fastest hand-written shape on this database (one timed run of each)."""
    dialect = engine.dialect.name
    values = params(dialect, at)
    sql = queries(dialect)
    best: dict[str, tuple[str, sa.TextClause]] = {}
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET jit = off")
        for flow in flows:
            timed = []
            for shape, text in sql[flow].items():
                statement = bind(text, values)
                start = time.perf_counter()
                conn.execute(statement).scalars().all()
                timed.append((time.perf_counter() - start, shape, statement))
            _, shape, statement = min(timed, key=lambda t: t[0])
            best[flow] = (shape, statement)
    return best


def run_hand(engine: sa.Engine, best: dict[str, tuple[str, sa.TextClause]],
             ) -> tuple[float, dict[str, float], dict[str, int]]:
    per: dict[str, float] = {}
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET jit = off")
        for flow, (_, statement) in best.items():
            start = time.perf_counter()
            rows[flow] = len(conn.execute(statement).scalars().all())
            per[flow] = time.perf_counter() - start
    return sum(per.values()), per, rows


# ---------------------------------------------------------------- one store (child process)


def commit_first(engine: sa.Engine, folder: Folder, first: dt.datetime) -> float | None:
    """A durable tick at ``first`` and its intents marked sent, unless the store had a tick."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT count(*) FROM enrollments")).scalar_one():
            return None
    start = time.perf_counter()
    runner.run_once(engine, folder, first, Settings(secret=SECRET.decode()), deliver=False)
    with runner.writer(engine) as conn:
        conn.execute(sa.text(
            "UPDATE outbox SET status = 'sent', sent_at = :at, updated_at = :at "
            "WHERE status = 'pending' AND action IN ('send', 'notify')"),
            {"at": first.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
             if engine.dialect.name == "sqlite" else first})
        conn.commit()
    return time.perf_counter() - start


def measure(url: str, at: dt.datetime, repeat: int, flows_dir: Path,
            first: dt.datetime | None = None) -> dict[str, Any]:
    folder = Folder.load([str(flows_dir)])
    flows = [f.name for f in folder.by_priority()]
    # Not `connect`: the store is gen_store.py's, and a benchmark does not migrate it (a newer
    # engine's extra columns and tables are nothing a tick reads or writes).
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _jit_off)
    committed = commit_first(engine, folder, first) if first is not None else None
    leads_n = _count(engine, "leads")
    events_n = _count(engine, "events")
    rss_start = maxrss_mb()  # interpreter, engine, flows loaded, one connection
    phases = Phases()
    phases.install()
    best = hand_written(engine, flows, at)  # warm-up of the hand-written side
    warm = tick(engine, folder, at)  # warm-up of the tick
    phases.take()
    hands, ticks, hand_per, tick_phases = [], [], [], []
    for _ in range(repeat):
        total, per, rows = run_hand(engine, best)
        hands.append(total)
        hand_per.append(per)
        start = time.perf_counter()
        counts = tick(engine, folder, at)
        ticks.append(time.perf_counter() - start)
        tick_phases.append(phases.take())
        assert counts["entered"] == warm["entered"], "two ticks of the same T differ"
    rss_after = maxrss_mb()
    tracemalloc.start()
    tick(engine, folder, at)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    return {
        "store": display_url(url), "dialect": engine.dialect.name, "leads": leads_n,
        "events": events_n, "tick_s": statistics.median(ticks), "ticks_s": ticks,
        "hand_s": statistics.median(hands), "hands_s": hands,
        "hand_per_flow": {f: statistics.median(p[f] for p in hand_per) for f in flows},
        "hand_rows": rows, "hand_shapes": {f: s for f, (s, _) in best.items()},
        "phases": tick_phases[_median_index(ticks)], "counts": warm,
        "rss_start_mb": rss_start, "rss_peak_mb": rss_after,
        "traced_peak_mb": traced_peak / 2**20, "at": at.isoformat(),
        "committed_first_s": committed,
    }


def _median_index(values: list[float]) -> int:
    order = sorted(range(len(values)), key=lambda i: values[i])
    return order[(len(order) - 1) // 2]


def _jit_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# ---------------------------------------------------------------- report


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| database | leads | events | tick (rolled back) | hand-written entry audiences | "
        "ratio | RSS at start | peak RSS | Python's peak in one tick |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['dialect']} | {r['leads']:,} | {r['events']:,} | {r['tick_s']:.2f} s | "
            f"{r['hand_s']:.2f} s | **{r['tick_s'] / r['hand_s']:.1f}x** | "
            f"{r['rss_start_mb']:.0f} MB | {r['rss_peak_mb']:.0f} MB | "
            f"{r['traced_peak_mb']:.1f} MB |")
    lines += ["", "Where the tick's time goes (the median tick), seconds:", ""]
    head = ["phase"] + [f"{r['dialect']} {r['leads']:,}" for r in results]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    names = ["ensure_version", "check_exits", "check_goal", "enter", "advance_all",
             "remember_tick", "handoffs", "gate"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(
            f"{r['phases'].get(name, 0.0):.2f}" for r in results) + " |")
    lines.append("| rollback | " + " | ".join(
        f"{r['counts']['rollback_s']:.2f}" for r in results) + " |")
    lines += ["", "Entries (the engine's INSERT ... SELECT of each audience, with its journal "
              "rows) against the hand-written audience query, seconds:", ""]
    head = ["flow"] + [f"{r['dialect']} {r['leads']:,}: engine / hand-written (rows)"
                       for r in results]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for flow in results[0]["hand_per_flow"]:
        lines.append(f"| {flow} | " + " | ".join(
            f"{r['phases'].get('enter:' + flow, 0.0):.2f} / {r['hand_per_flow'][flow]:.2f} "
            f"({r['hand_rows'][flow]:,}, {r['hand_shapes'][flow]})" for r in results) + " |")
    lines += ["", "What one tick did: " + "; ".join(
        f"{r['dialect']} {r['leads']:,}: {r['counts']['entered']:,} entered, "
        f"{r['counts']['advanced']:,} advanced, {r['counts']['intents']:,} intents, gate "
        f"{r['counts']['gate'][0]:,} may go / {r['counts']['gate'][1]:,} deferred / "
        f"{r['counts']['gate'][2]:,} blocked" for r in results)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sqlite", type=Path, action="append", default=[],
                    help="a SQLite store made by gen_store.py (repeatable)")
    ap.add_argument("--pg", metavar="URL", action="append", default=[],
                    help="a PostgreSQL store filled by gen_store.py (repeatable)")
    ap.add_argument("--at", default="2026-11-23", help="T of the tick: gen_store.py's --at")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flows", type=Path, default=ROOT / "flows")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--commit-first", metavar="T0", default=None,
                    help="commit a tick at T0 first (CHANGES THE STORE: give it a copy)")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    at = dt.datetime.fromisoformat(args.at)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    first = None
    if args.commit_first:
        first = dt.datetime.fromisoformat(args.commit_first)
        first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
    if args.child:
        print(json.dumps(measure(args.child, at, args.repeat, args.flows, first)))
        return
    urls = [f"sqlite:///{p}" for p in args.sqlite] + list(args.pg)
    if not urls:
        ap.error("give --sqlite FILE and/or --pg URL")
    for p in args.sqlite:
        if not p.exists():
            ap.error(f"{p} does not exist: run bench/gen_store.py first")
    results = []
    for url in urls:
        print(f"measuring {display_url(url)} ...", file=sys.stderr)
        command = [sys.executable, __file__, "--child", url, "--at", args.at,
                   "--repeat", str(args.repeat), "--flows", str(args.flows)]
        if args.commit_first:
            command += ["--commit-first", args.commit_first]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"{display_url(url)}: {out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  tick {result['ticks_s']}, hand-written {result['hands_s']}",
              file=sys.stderr)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()

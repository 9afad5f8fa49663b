"""Benchmark: the engine's compiled audience queries vs hand-written SQL, SQLite and PostgreSQL.

    .venv/bin/python bench/gen_store.py --leads 1000000 --sqlite /tmp/bench.db --pg URL
    .venv/bin/python bench/audience_bench.py --sqlite /tmp/bench.db --pg URL [--repeat 5]

Audiences: the entry condition of every flow in flows/ (an event trigger such as ``enter on stage
change`` counts as "in the last day", engine.demo.audiences) and PERFORMANCE.md's Q1-Q4. For
each, on the same database: the engine's query (engine.conditions.compile.audience: SELECT ids
ORDER BY id, compiled on the connection, so shaped by what the planner measures there) and
every hand-written shape of bench/handwritten.py, each fetched in full through SQLAlchemy;
wall-clock median of --repeat runs after one warm-up (a query slower than --budget seconds in
total runs fewer times), the runs of both sides interleaved. The engine's time includes
compiling (and measuring the data for) its query once. The id lists must be equal, not just
their counts: a mismatch is printed and makes the exit status 1. Prints a markdown table for
docs/benchmarks.md; --plans FILE writes the query plans of both sides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.handwritten import Q_SEGMENTS, params, queries  # noqa: E402
from engine.conditions.compile import audience  # noqa: E402
from engine.conditions.sqlite_math import ensure_power  # noqa: E402
from engine.demo.audiences import Audience, flow_audiences  # noqa: E402
from engine.store.db import connect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "engine"  # the engine's query among the timed ones


@dataclass
class Timing:
    seconds: float
    runs: int
    ids: list[int] = field(repr=False)


@dataclass
class Result:
    name: str
    engine: Timing
    compile_s: float
    hand: dict[str, Timing]
    sql: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> tuple[str, Timing]:
        return min(self.hand.items(), key=lambda kv: kv[1].seconds)


def measure(runs: dict[str, Callable[[], list[int]]], repeat: int,
            budget: float) -> dict[str, Timing]:
    """Median wall-clock time of each query: one warm-up each (caches, statistics; kept as a
    sample only for very slow queries), then ``repeat`` rounds running each query once, in
    turn, so that load from elsewhere on the machine falls on all of them alike. A query whose
    runs would exceed ``budget`` seconds drops out of later rounds."""
    ids: dict[str, list[int]] = {}
    first: dict[str, float] = {}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for key, run in runs.items():
        start = time.perf_counter()
        ids[key] = run()
        first[key] = time.perf_counter() - start
        if first[key] * (repeat + 1) > budget:
            samples[key].append(first[key])
    for _ in range(repeat):
        for key, run in runs.items():
            done = samples[key]
            if len(done) >= repeat or (done and sum(done) + first[key] >= budget):
                continue
            start = time.perf_counter()
            again = run()
            done.append(time.perf_counter() - start)
            if again != ids[key]:
                raise AssertionError(f"{key}: the same query returned different ids")
    return {k: Timing(statistics.median(samples[k]), len(samples[k]), ids[k]) for k in runs}


def bench_database(url: str, items: list[Audience], at: dt.datetime, args: argparse.Namespace,
                   plans: list[str]) -> list[Result]:
    engine = connect(url)
    ensure_power(engine)
    dialect = engine.dialect.name
    hand_sql = queries(dialect)
    values = params(dialect, at)
    results = []
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET jit = off")
        for item in items:
            t = time.perf_counter()
            query = audience(item.condition, item.context, at, conn)
            query.compile(conn)
            compile_s = time.perf_counter() - t
            runs = {ENGINE: ids_of(conn, query)}
            for shape, text in hand_sql[item.flow].items():
                runs[shape] = ids_of(conn, bind(text, values))
            timings = measure(runs, args.repeat, args.budget)
            engine_t = timings.pop(ENGINE)
            result = Result(item.flow, engine_t, compile_s, timings,
                            dict(hand_sql[item.flow]))
            results.append(result)
            print(f"  {dialect} {item.flow}: {len(result.engine.ids):,} rows, engine "
                  f"{result.engine.seconds:.3f} s + {1000 * compile_s:.0f} ms compiling, hand "
                  + ", ".join(f"{k} {v.seconds:.3f} s" for k, v in result.hand.items()),
                  file=sys.stderr)
            if args.plans:
                best = result.best[0]
                hand = bind(result.sql[best], values)
                plans.append(f"### {dialect}: {item.flow}\n\nengine:\n```\n{explain(conn, query)}"
                             f"\n```\nhand-written ({best}):\n```\n{explain(conn, hand)}\n```\n")
    engine.dispose()
    return results


def ids_of(conn: sa.Connection, statement: Any) -> Callable[[], list[int]]:
    return lambda: list(conn.execute(statement).scalars())


def bind(text: str, values: dict[str, Any]) -> sa.TextClause:
    names = set(re.findall(r"(?<![:\w]):(\w+)", text))
    return sa.text(text).bindparams(**{k: values[k] for k in names})


def explain(conn: sa.Connection, statement: Any) -> str:
    """The plan of a statement, with its parameters bound exactly as when it runs."""
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "

    def prepend(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any,
                _many: bool) -> tuple[str, Any]:
        return prefix + sql, parameters

    sa.event.listen(conn, "before_cursor_execute", prepend, retval=True)
    try:
        result = conn.execute(statement)
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        sa.event.remove(conn, "before_cursor_execute", prepend)
    return "\n".join(str(r[-1]) for r in rows)


def check(results: list[Result]) -> list[str]:
    problems = []
    for r in results:
        for shape, timing in r.hand.items():
            if timing.ids != r.engine.ids:
                only_engine = len(set(r.engine.ids) - set(timing.ids))
                only_hand = len(set(timing.ids) - set(r.engine.ids))
                problems.append(f"{r.name} ({shape}): engine {len(r.engine.ids):,} rows, hand "
                                f"{len(timing.ids):,}; {only_engine} only in the engine's, "
                                f"{only_hand} only in the hand-written")
    return problems


TARGET = 1.5  # the engine within 1.5x of the best hand-written SQL (lead-store issue)


def ratio(r: Result) -> float:
    """The engine's time, compiling included, over the best hand-written shape's."""
    return (r.engine.seconds + r.compile_s) / max(r.best[1].seconds, 1e-6)


def table(runs: dict[str, list[Result]]) -> str:
    dbs = list(runs)
    head = "| audience | rows |" + "".join(
        f" {db} engine (+ compiling) | {db} hand-written (shape) | ratio |" for db in dbs)
    lines = [head, "|---|---|" + "---|---|---|" * len(dbs)]
    for i, first in enumerate(runs[dbs[0]]):
        rows = {len(runs[db][i].engine.ids) for db in dbs}
        cells = [first.name, " / ".join(f"{n:,}" for n in sorted(rows))]
        for db in dbs:
            r = runs[db][i]
            shape, best = r.best
            ok = "" if all(t.ids == r.engine.ids for t in r.hand.values()) else " **≠**"
            cells += [f"{r.engine.seconds:.3f} s (+ {1000 * r.compile_s:.0f} ms)",
                      f"{best.seconds:.3f} s ({shape}){ok}", f"{ratio(r):.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    met = ", ".join(f"{db} {sum(ratio(r) <= TARGET for r in runs[db])}/{len(runs[db])}"
                    for db in dbs)
    return "\n".join(lines) + f"\n\nWithin {TARGET}x: {met}."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sqlite", type=Path, help="SQLite file made by gen_store.py")
    ap.add_argument("--pg", metavar="URL", help="PostgreSQL URL filled by gen_store.py")
    ap.add_argument("--at", default="2026-11-23", help="T: gen_store.py's --at")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds one query may take in total before it is repeated less")
    ap.add_argument("--flows", type=Path, default=ROOT / "flows")
    ap.add_argument("--only", nargs="*", help="audience names (default: all)")
    ap.add_argument("--plans", type=Path, help="write the query plans (markdown) to this file")
    args = ap.parse_args()
    at = dt.datetime.fromisoformat(args.at)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    items = flow_audiences(args.flows, {k.lower(): v for k, v in Q_SEGMENTS.items()})
    items = [Audience(a.flow.upper() if a.flow in ("q1", "q2", "q3", "q4") else a.flow,
                      a.condition, a.context) for a in items]
    if args.only:
        items = [a for a in items if a.flow in args.only]
    urls = {}
    if args.sqlite:
        if not args.sqlite.exists():
            ap.error(f"{args.sqlite} does not exist: run bench/gen_store.py first")
        urls["SQLite"] = f"sqlite:///{args.sqlite}"
    if args.pg:
        urls["PostgreSQL"] = args.pg
    if not urls:
        ap.error("give --sqlite FILE and/or --pg URL")
    plans: list[str] = []
    runs = {db: bench_database(url, items, at, args, plans) for db, url in urls.items()}
    print(table(runs))
    problems = [p for results in runs.values() for p in check(results)]
    for p in problems:
        print(f"MISMATCH {p}", file=sys.stderr)
    if args.plans:
        args.plans.write_text("# Query plans (bench/audience_bench.py)\n\n" + "\n".join(plans))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

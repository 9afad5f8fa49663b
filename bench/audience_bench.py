"""Benchmark: the engine's compiled audience queries vs hand-written SQL, SQLite and PostgreSQL.

    .venv/bin/python bench/gen_store.py --leads 1000000 --sqlite /tmp/bench.db --pg URL
    .venv/bin/python bench/audience_bench.py --sqlite /tmp/bench.db --pg URL [--repeat 5]

Audiences: the entry condition of every flow in flows/ (an event trigger such as ``enter on stage
change`` counts as "in the last day", engine.demo.audiences) and PERFORMANCE.md's Q1-Q4. For
each, on the same database: the engine's query (engine.conditions.compile.audience: SELECT ids
ORDER BY id) and every hand-written shape of bench/handwritten.py, each fetched in full through
SQLAlchemy; wall-clock median of --repeat runs after one warm-up (a query slower than --budget
seconds in total runs fewer times). The id lists must be equal, not just their counts: a
mismatch is printed and makes the exit status 1. Prints a markdown table for
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


def measure(run: Callable[[], list[int]], repeat: int, budget: float) -> Timing:
    start = time.perf_counter()
    ids = run()  # warm-up (caches, statistics); kept as a sample only for very slow queries
    first = time.perf_counter() - start
    samples = [first] if first * (repeat + 1) > budget else []
    while len(samples) < repeat and (not samples or sum(samples) + first < budget):
        t = time.perf_counter()
        again = run()
        samples.append(time.perf_counter() - t)
        if again != ids:
            raise AssertionError("the same query returned different ids on a second run")
    return Timing(statistics.median(samples), len(samples), ids)


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
            query = audience(item.condition, item.context, at, engine)
            compiled = query.compile(engine)
            compile_s = time.perf_counter() - t

            def run_engine(q: Any = query) -> list[int]:
                return list(conn.execute(q).scalars())

            result = Result(item.flow, measure(run_engine, args.repeat, args.budget), compile_s,
                            {})
            for shape, text in hand_sql[item.flow].items():
                statement = bind(text, values)

                def run_hand(s: Any = statement) -> list[int]:
                    return list(conn.execute(s).scalars())

                result.hand[shape] = measure(run_hand, args.repeat, args.budget)
                result.sql[shape] = text
            results.append(result)
            print(f"  {dialect} {item.flow}: {len(result.engine.ids):,} rows, engine "
                  f"{result.engine.seconds:.3f} s, hand " + ", ".join(
                      f"{k} {v.seconds:.3f} s" for k, v in result.hand.items()), file=sys.stderr)
            if args.plans:
                best = result.best[0]
                hand = bind(result.sql[best], values)
                plans.append(f"### {dialect}: {item.flow}\n\nengine:\n```\n{explain(conn, query)}"
                             f"\n```\nhand-written ({best}):\n```\n{explain(conn, hand)}\n```\n")
            del compiled
    engine.dispose()
    return results


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


def table(runs: dict[str, list[Result]]) -> str:
    dbs = list(runs)
    head = "| audience | rows |" + "".join(
        f" {db} engine | {db} hand-written (shape) | ratio |" for db in dbs)
    lines = [head, "|---|---|" + "---|---|---|" * len(dbs)]
    for i, first in enumerate(runs[dbs[0]]):
        rows = {len(runs[db][i].engine.ids) for db in dbs}
        cells = [first.name, " / ".join(f"{n:,}" for n in sorted(rows))]
        for db in dbs:
            r = runs[db][i]
            shape, best = r.best
            ok = "" if all(t.ids == r.engine.ids for t in r.hand.values()) else " **≠**"
            cells += [f"{r.engine.seconds:.3f} s", f"{best.seconds:.3f} s ({shape}){ok}",
                      f"{r.engine.seconds / max(best.seconds, 1e-6):.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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

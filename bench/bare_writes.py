"""Benchmark: a lower bound for a tick, the time any implementation would spend just writing
the rows that tick writes, with nothing else (no conditions, no reads, no Python per step).

    .venv/bin/python bench/bare_writes.py --db sqlite:////tmp/copy.db --at 2026-11-23
    .venv/bin/python bench/bare_writes.py --db postgresql+psycopg://... --at 2026-11-23

bench/tick_bench.py sets a tick against hand-written SQL for the flows' entry audiences, but a
tick writes far more than those audiences read: new enrollments, journal rows, outbox intents,
tags, lead attributes (`set` steps, with their stage_change events), its own bookkeeping
(flow versions, settings), and updates of enrollments and outbox rows that already existed. No
implementation can do less than write those same rows; this measures that floor.

How: ``capture`` runs one real tick (runner.process, as tick_bench.tick does, in one
transaction that is rolled back) and finds what it wrote by comparing each table before and
after, inside that transaction: every row inserted and every row whose values changed, in its
final state (a row inserted and then updated by the same tick is one insert of its final
values, as a perfect writer would do), and every row removed. Rows are read through the raw
DBAPI, so the values are already in the driver's stored form (on PostgreSQL, JSON as its
text). ``replay`` then writes exactly those rows with bare DBAPI ``executemany`` of prebuilt
tuples: per table one DELETE by primary key, one ``UPDATE ... SET <the columns that changed>
WHERE <primary key>``, one INSERT with explicit columns (the ids included: later rows refer to
them, and PostgreSQL's sequences do not roll back), in one transaction on a connection with
the database's own session settings, timed up to (not including) its rollback. On PostgreSQL
psycopg's executemany runs in pipeline mode, which is what a hand-written writer would use.

The CLI interleaves the replay with tick_bench's own ``tick()`` and prints one JSON object.
``tick_write_s`` is the tick without its rollback and without the VACUUM that tick() runs after
it on PostgreSQL: the figure to set against ``replay_s``. On PostgreSQL the replay is also
timed on the tick's own connection (``replay_tick_session_s``, see ``replay``). Before timing,
one replay is checked: each table's row count, and a digest of the rows the tick wrote, must be
those the tick left.

What is compared how: ``journal`` and ``events`` are only ever appended to by the engine (and
``events`` is the 20M-row table), so only their rows past the largest id before the tick are
read; the other tables are fingerprinted row by row before the tick (a 64-bit hash of the row
and a 16-bit hash of each column, which names the columns that changed: a few MB at 1M leads).
A tick that changed the row count of any other table is reported as an error.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import resource
import statistics
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench import tick_bench  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.runtime import runner  # noqa: E402
from engine.runtime.model import Folder  # noqa: E402
from engine.runtime.tick import Unit  # noqa: E402
from engine.store.db import display_url, make_engine  # noqa: E402
from engine.store.schema import TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = tick_bench.SECRET
# What a tick writes, in the order of their foreign keys (parents first).
WRITTEN = tuple(t.name for t in TABLES if t.name in tick_bench.TOUCHED)
APPEND_ONLY = frozenset({"journal", "events"})  # the engine never updates or deletes these
INTERN_LIMIT = 10_000  # distinct values per column shared between rows, then no more
COLUMN_MASK = 0xFFFF


# ---------------------------------------------------------------- what the tick wrote


@dataclass
class Shape:
    """One table as the database has it (a store made by an older engine may lack columns)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns
    json: frozenset[str]  # read as text on PostgreSQL (the driver would parse it into dicts)
    defaulted: frozenset[str]  # columns with a server default: never left out of an INSERT

    @property
    def int_key(self) -> bool:
        return self.key == ("id",)

    def key_of(self) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        indexes = [self.columns.index(c) for c in self.key]
        return lambda row: tuple(row[i] for i in indexes)


@dataclass
class TableWrites:
    """The writes of one table, as the driver's parameter tuples."""

    table: str
    key: tuple[str, ...]
    insert_columns: tuple[str, ...] = ()
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    set_columns: tuple[str, ...] = ()
    updates: list[tuple[Any, ...]] = field(default_factory=list)  # SET values, then the key
    deletes: list[tuple[Any, ...]] = field(default_factory=list)  # the key
    # The state the tick left, for checking a replay: the row count, and an order-free digest
    # of the rows (all of them, or for an append-only table those past ``since``).
    count_after: int = 0
    digest_after: int = 0
    since: int | None = None

    def summary(self) -> dict[str, Any]:
        return {"inserted": len(self.inserts), "updated": len(self.updates),
                "deleted": len(self.deletes), "insert_columns": len(self.insert_columns),
                "set_columns": list(self.set_columns)}


@dataclass
class Captured:
    dialect: str
    at: dt.datetime
    tables: list[TableWrites]
    tick: dict[str, Any]  # what the tick reported (entered, advanced, intents, gate)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {t.table: t.summary() for t in self.tables}


class _Snapshot:
    """One table's rows before the tick as fingerprints, by primary key: a 64-bit hash of the
    row and a 16-bit hash of each column (a changed row whose column hashes all collide still
    shows in the row hash; its columns are then all rewritten)."""

    def __init__(self, shape: Shape) -> None:
        self.width = len(shape.columns)
        self.ids: array[int] | None = array("q") if shape.int_key else None
        self.keys: dict[tuple[Any, ...], int] = {}
        self.rows: array[int] = array("q")
        self.cols: array[int] = array("H")
        self.seen = bytearray()

    def add(self, key: tuple[Any, ...], row: tuple[Any, ...]) -> None:
        if self.ids is not None:
            self.ids.append(key[0])  # read in id order: stays sorted for bisect
        else:
            self.keys[key] = len(self.rows)
        self.rows.append(hash(row))
        self.cols.extend(h & COLUMN_MASK for h in map(hash, row))
        self.seen.append(0)

    def find(self, key: tuple[Any, ...]) -> int:
        if self.ids is None:
            return self.keys.get(key, -1)
        i = bisect.bisect_left(self.ids, key[0])
        return i if i < len(self.ids) and self.ids[i] == key[0] else -1

    def changed(self, i: int, row: tuple[Any, ...]) -> list[int] | None:
        """None if row ``i`` is unchanged, else the indexes of the columns that changed."""
        if hash(row) == self.rows[i]:
            return None
        before = self.cols[i * self.width:(i + 1) * self.width]
        moved = [c for c, h in enumerate(map(hash, row)) if h & COLUMN_MASK != before[c]]
        return moved or list(range(self.width))


class _Interner:
    """Rows of a tick repeat most of their values (its instant, flow and step names, the same
    JSON details): one object per distinct value keeps a million captured rows small."""

    def __init__(self, width: int) -> None:
        self.caches: list[dict[Any, Any] | None] = [{} for _ in range(width)]

    def __call__(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i, cache in enumerate(self.caches):
            if cache is None:
                continue
            out[i] = cache.setdefault(out[i], out[i])
            if len(cache) > INTERN_LIMIT:
                self.caches[i] = None
        return tuple(out)


def shapes(conn: sa.Connection) -> list[Shape]:
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    out = []
    for name in WRITTEN:
        if name not in present:
            continue
        cols = inspector.get_columns(name)
        out.append(Shape(
            name, tuple(c["name"] for c in cols),
            tuple(inspector.get_pk_constraint(name)["constrained_columns"]),
            frozenset(c["name"] for c in cols if isinstance(c["type"], sa.JSON)),
            frozenset(c["name"] for c in cols if c.get("default") is not None)))
    return out


def _select(conn: sa.Connection, shape: Shape) -> str:
    quote = conn.dialect.identifier_preparer.quote
    text = conn.dialect.name == "postgresql"
    return ", ".join(f"{quote(c)}::text" if text and c in shape.json else quote(c)
                     for c in shape.columns)


def _rows(conn: sa.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """A query's rows as plain tuples, streamed (a server-side cursor on PostgreSQL)."""
    result = conn.exec_driver_sql(sql, execution_options={"stream_results": True})
    for row in result:
        yield tuple(row)


def _scalar(conn: sa.Connection, sql: str) -> int:
    return int(conn.exec_driver_sql(sql).scalar_one() or 0)


def _order(conn: sa.Connection, shape: Shape) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(c) for c in shape.key)


def _other_counts(conn: sa.Connection) -> dict[str, int]:
    names = [n for n in sa.inspect(conn).get_table_names()
             if n not in WRITTEN and n != "alembic_version" and not n.startswith("sqlite_")]
    return {n: _scalar(conn, f"SELECT count(*) FROM {n}") for n in names}


def before(conn: sa.Connection, shape: Shape) -> _Snapshot | int:
    """What to compare the table with after the tick: its largest id (append-only tables), or
    every row's fingerprint."""
    if shape.name in APPEND_ONLY:
        return _scalar(conn, f"SELECT max(id) FROM {shape.name}")
    snap = _Snapshot(shape)
    key_of = shape.key_of()
    for row in _rows(conn, f"SELECT {_select(conn, shape)} FROM {shape.name} "
                           f"ORDER BY {_order(conn, shape)}"):
        snap.add(key_of(row), row)
    return snap


def after(conn: sa.Connection, shape: Shape, was: _Snapshot | int) -> TableWrites:
    """The tick's writes to one table, from its state now and ``was``."""
    out = TableWrites(shape.name, shape.key)
    intern = _Interner(len(shape.columns))
    digest = 0
    select = f"SELECT {_select(conn, shape)} FROM {shape.name}"
    if isinstance(was, int):
        out.since = was
        for row in _rows(conn, f"{select} WHERE id > {was} ORDER BY id"):
            digest += hash(row)
            out.inserts.append(intern(row))
    else:
        key_of = shape.key_of()
        changed: set[int] = set()
        updated: list[tuple[Any, ...]] = []
        for row in _rows(conn, f"{select} ORDER BY {_order(conn, shape)}"):
            digest += hash(row)
            i = was.find(key_of(row))
            if i < 0:
                out.inserts.append(intern(row))
                continue
            was.seen[i] = 1
            moved = was.changed(i, row)
            if moved is not None:
                changed.update(moved)
                updated.append(row)
        out.deletes = _gone(was, shape)
        keys = [shape.columns.index(c) for c in shape.key]
        sets = sorted(changed - set(keys))
        out.set_columns = tuple(shape.columns[c] for c in sets)
        out.updates = [tuple(row[c] for c in sets + keys) for row in updated]
    out.digest_after = digest & (2**64 - 1)
    out.count_after = _scalar(conn, f"SELECT count(*) FROM {shape.name}")
    _trim_inserts(out, shape)
    return out


def _gone(was: _Snapshot, shape: Shape) -> list[tuple[Any, ...]]:
    if was.ids is not None:
        return [(was.ids[i],) for i, seen in enumerate(was.seen) if not seen]
    return [key for key, i in was.keys.items() if not was.seen[i]]


def _trim_inserts(out: TableWrites, shape: Shape) -> None:
    """The INSERT's columns: all but those NULL in every new row that the database fills with
    NULL anyway (no server default), which a hand-written INSERT would not name. In place,
    row by row, so that two copies of a million rows never coexist."""
    rows = out.inserts
    keep = [i for i, c in enumerate(shape.columns)
            if c in shape.defaulted or c in shape.key or any(r[i] is not None for r in rows)]
    out.insert_columns = tuple(shape.columns[i] for i in keep)
    if len(keep) == len(shape.columns) or not rows:
        return
    pick = itemgetter(*keep)
    for n, row in enumerate(rows):
        picked = pick(row)
        rows[n] = picked if len(keep) > 1 else (picked,)


def capture(engine: sa.Engine, folder: Folder, at: dt.datetime) -> Captured:
    """One tick at ``at`` (rolled back) and the rows it wrote, in their final state."""
    settings = Settings(secret=SECRET.decode())
    with runner.writer(engine) as conn:
        try:
            tables = shapes(conn)
            others = _other_counts(conn)
            was = {s.name: before(conn, s) for s in tables}
            report = runner.process(Unit(conn, durable=False), folder, at, settings, SECRET)
            # The fingerprinted tables first: each snapshot is freed before the append-only
            # tables' new rows (the bulk of a first tick) are read.
            found = {s.name: after(conn, s, was.pop(s.name))
                     for s in sorted(tables, key=lambda s: s.name in APPEND_ONLY)}
            writes = [found[s.name] for s in tables]
            moved = {n: (c, now) for n, now in _other_counts(conn).items()
                     if (c := others.get(n, 0)) != now}
            if moved:
                raise RuntimeError(f"the tick changed tables this benchmark does not capture "
                                   f"(rows before, after): {moved}")
        finally:
            conn.rollback()
    tick_bench.vacuum(engine)
    counts = {"entered": sum(t.entered for t in report.ticks),
              "advanced": sum(t.advanced for t in report.ticks),
              "intents": sum(sum(t.actions.values()) for t in report.ticks),
              "gate": [report.gate.allowed, report.gate.deferred, report.gate.blocked]}
    return Captured(engine.dialect.name, at, writes, counts)


# ---------------------------------------------------------------- writing them again


def statements(dialect: sa.Dialect, w: TableWrites,
               ) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    """(kind, SQL, parameter tuples) for one table: its DELETE, UPDATE and INSERT."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    where = " AND ".join(f"{quote(c)} = {mark}" for c in w.key)
    out = []
    if w.deletes:
        out.append(("delete", f"DELETE FROM {w.table} WHERE {where}", w.deletes))
    if w.updates:
        sets = ", ".join(f"{quote(c)} = {mark}" for c in w.set_columns)
        out.append(("update", f"UPDATE {w.table} SET {sets} WHERE {where}", w.updates))
    if w.inserts:
        names = ", ".join(quote(c) for c in w.insert_columns)
        marks = ", ".join(mark for _ in w.insert_columns)
        out.append(("insert", f"INSERT INTO {w.table} ({names}) VALUES ({marks})", w.inserts))
    return out


def plan(dialect: sa.Dialect, captured: Captured) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every statement in a safe order: deletes (children first), then updates (an enrollment
    a tick ended must be ended before a new live one of the same flow and lead goes in), then
    inserts (parents first: outbox rows name enrollments of the same tick)."""
    per = [statements(dialect, w) for w in captured.tables]
    ordered = [s for table in reversed(per) for s in table if s[0] == "delete"]
    ordered += [s for table in per for s in table if s[0] == "update"]
    ordered += [s for table in per for s in table if s[0] == "insert"]
    return [(sql, rows) for _, sql, rows in ordered]


@contextmanager
def bare(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection with the database's own session settings; on SQLite its transaction
    takes the write lock at BEGIN, as the tick's does."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        yield conn


def replay(engine: sa.Engine, captured: Captured, *, check: bool = False,
           like_tick: bool = False) -> float:
    """Seconds to write the captured rows with bare executemany, in one transaction that is
    then rolled back (not timed). ``check``: before the rollback, each table's row count and
    the digest of the tick's rows must be those the tick left (RuntimeError otherwise).

    ``like_tick``: on the tick's connection (runner.writer) instead of a plain one. On
    PostgreSQL that connection plans every statement for its parameters
    (``plan_cache_mode = force_custom_plan``), which also replans the foreign-key checks
    PostgreSQL runs for every row inserted: a cost of the tick's setting, not of the rows."""
    work = plan(engine.dialect, captured)
    with (runner.writer(engine) if like_tick else bare(engine)) as conn:
        try:
            conn.begin()  # BEGIN IMMEDIATE on SQLite, as the tick's
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            start = time.perf_counter()
            for sql, rows in work:
                cursor.executemany(sql, rows)
            seconds = time.perf_counter() - start
            cursor.close()
            if check:
                verify(conn, captured)
        finally:
            conn.rollback()
    tick_bench.vacuum(engine)
    return seconds


def verify(conn: sa.Connection, captured: Captured) -> None:
    by_name = {s.name: s for s in shapes(conn)}
    wrong = []
    for w in captured.tables:
        shape = by_name[w.table]
        count = _scalar(conn, f"SELECT count(*) FROM {w.table}")
        where = f" WHERE id > {w.since}" if w.since is not None else ""
        digest = sum(hash(r) for r in _rows(
            conn, f"SELECT {_select(conn, shape)} FROM {w.table}{where}")) & (2**64 - 1)
        if count != w.count_after or digest != w.digest_after:
            wrong.append(f"{w.table}: {count} rows (the tick left {w.count_after})"
                         + ("" if digest == w.digest_after else ", other values"))
    if wrong:
        raise RuntimeError("the replay did not write what the tick wrote: " + "; ".join(wrong))


# ---------------------------------------------------------------- CLI


class _TimedVacuum:
    """tick_bench.tick() ends with a VACUUM on PostgreSQL; its time is noted so that the tick's
    writing can be told from its clean-up."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.inner = tick_bench.vacuum

    def __call__(self, engine: sa.Engine) -> None:
        start = time.perf_counter()
        try:
            self.inner(engine)
        finally:
            self.seconds += time.perf_counter() - start

    def take(self) -> float:
        out, self.seconds = self.seconds, 0.0
        return out


def _jit_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()


def measure(url: str, at: dt.datetime, flows: Path, repeat: int) -> dict[str, Any]:
    folder = Folder.load([str(flows)])
    engine = make_engine(url)  # not `connect`: a benchmark store is not migrated
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _jit_off)
    start = time.perf_counter()
    captured = capture(engine, folder, at)  # also the tick's warm-up
    capture_s = time.perf_counter() - start
    rss_captured = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    replay(engine, captured, check=True)  # the replay's warm-up, checked
    vacuum = _TimedVacuum()
    tick_bench.vacuum = vacuum  # type: ignore[assignment]
    # On SQLite the tick's connection is a plain one that takes the write lock at BEGIN.
    session = captured.dialect == "postgresql"
    ticks: list[float] = []
    writes: list[float] = []
    replays: list[float] = []
    sessions: list[float] = []
    try:
        for _ in range(repeat):
            vacuum.take()
            start = time.perf_counter()
            counts = tick_bench.tick(engine, folder, at)
            ticks.append(time.perf_counter() - start)
            writes.append(ticks[-1] - counts["rollback_s"] - vacuum.take())
            assert counts["entered"] == captured.tick["entered"], "two ticks of one T differ"
            replays.append(replay(engine, captured))
            if session:
                sessions.append(replay(engine, captured, like_tick=True))
    finally:
        tick_bench.vacuum = vacuum.inner  # type: ignore[assignment]
    engine.dispose()
    replay_s, tick_write_s = statistics.median(replays), statistics.median(writes)
    return {
        "store": display_url(url), "dialect": captured.dialect, "at": at.isoformat(),
        "rows": captured.rows(),
        "rows_written": sum(len(t.inserts) + len(t.updates) + len(t.deletes)
                            for t in captured.tables),
        "replay_s": replay_s, "replays_s": replays,
        "replay_tick_session_s": statistics.median(sessions) if sessions else None,
        "replays_tick_session_s": sessions or None,
        "tick_s": statistics.median(ticks), "ticks_s": ticks,
        "tick_write_s": tick_write_s, "tick_writes_s": writes,
        "tick_over_replay": tick_write_s / replay_s if replay_s else None,
        "tick": captured.tick, "checked": True, "capture_s": capture_s,
        "rss_after_capture_mb": rss_captured,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, metavar="URL",
                    help="a store made by gen_store.py (sqlite:///FILE or postgresql://...)")
    ap.add_argument("--at", required=True, help="T of the tick (ISO; UTC unless it says)")
    ap.add_argument("--flows", type=Path, default=ROOT / "flows")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    at = dt.datetime.fromisoformat(args.at)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    print(json.dumps(measure(args.db, at, args.flows, max(1, args.repeat)), indent=2))


if __name__ == "__main__":
    main()

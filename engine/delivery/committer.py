"""The ledger thread: every database step of a run, in order, with group commit.

A commit that must reach the disk costs milliseconds (an fsync of SQLite's journal, or
PostgreSQL's WAL flush with synchronous_commit on), and a run needs two durable writes per
message: ``sending`` before DATA (so a crash can never cause a blind resend) and the result
after it. One commit per write would make the disk, not the relay, the limit. So steps queue up
here and the thread runs whatever is waiting (up to ``max_group`` steps) in one transaction:
each step is still its own compare-and-set on its own row, and each caller learns its result
only after the commit that made it durable. Results nobody waits for linger up to 20 ms for
company; a step somebody waits for (a claim, a ``sending`` mark) commits at once, with whatever
is queued. If the transaction fails, every step in it fails (the rows keep their previous,
committed state; the reaper settles them).

Callers in the event loop ``await committer.run(fn, *args)``; ``fn(conn, *args)`` runs on the
thread. The thread keeps one connection for the whole run, on one thread as pysqlite expects
(a pool checkout and its reset per group cost as much as a small step); after a failed
transaction it is discarded and the next group opens a fresh one.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
# fn, args, future, alone, deadline (time.monotonic() by which it should be committed)
_Step = tuple[Callable[..., Any], tuple[Any, ...], "Future[Any]", bool, float]


class Committer:
    def __init__(self, engine: sa.Engine, max_group: int = 256, linger: float = 0.02) -> None:
        self.engine = engine
        self.max_group = max_group
        self.linger = linger
        self.steps: queue.SimpleQueue[_Step | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="ledger", daemon=True)
        self.thread.start()
        self.groups = 0  # transactions committed (for benchmarks)
        self.conn: sa.Connection | None = None  # the thread's own

    def submit(self, fn: Callable[..., T], *args: Any, alone: bool = False,
               urgent: bool = True, linger: float | None = None) -> Future[T]:
        """Queue ``fn(conn, *args)``. ``alone``: in a transaction of its own (steps that run
        other people's code, such as the policy gate, so their failure fails nothing else).
        ``urgent=False``: nobody waits for it yet (a result, or the ``sending`` mark of a chunk
        that will be sent after the one on the wire), so its group may wait up to ``linger``
        seconds (default: the committer's) for company before it commits."""
        future: Future[T] = Future()
        wait = 0.0 if urgent else self.linger if linger is None else linger
        self.steps.put((fn, args, future, alone, time.monotonic() + wait))
        return future

    async def run(self, fn: Callable[..., T], *args: Any, alone: bool = False) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args, alone=alone))

    def close(self) -> None:
        self.steps.put(None)
        self.thread.join()

    def _loop(self) -> None:
        try:
            self._steps()
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def _connection(self) -> sa.Connection:
        """The thread's connection; on SQLite every transaction takes the write lock at BEGIN
        (``BEGIN IMMEDIATE``, as engine.store.db.write_transaction does)."""
        if self.conn is None:
            conn = self.engine.connect()
            if conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            self.conn = conn
        return self.conn

    def _discard(self) -> None:
        """Drop the connection after a failure: whatever state it is in, the next group starts
        on a fresh one."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # already failing: the error that matters is raised
                pass

    def _steps(self) -> None:
        carry: _Step | None = None
        stopping = False
        while not stopping:
            first = carry if carry is not None else self.steps.get()
            carry = None
            if first is None:
                return
            group = [first]
            deadline = first[4]
            while not first[3] and len(group) < self.max_group:
                try:
                    wait = deadline - time.monotonic()
                    step = self.steps.get(timeout=wait) if wait > 0 else self.steps.get_nowait()
                except queue.Empty:
                    break
                if step is None:
                    stopping = True
                    break
                if step[3]:
                    carry = step
                    break
                group.append(step)
                deadline = min(deadline, step[4])
            self._commit(group)
            if stopping and carry is not None:
                self._commit([carry])

    def _commit(self, group: list[_Step]) -> None:
        results: list[Any] = []
        try:
            conn = self._connection()
            with conn.begin():
                for fn, args, _, _, _ in group:
                    results.append(fn(conn, *args))
        except BaseException as error:  # noqa: B036 - handed to every waiting caller
            self._discard()
            for _, _, future, _, _ in group:
                future.set_exception(error)
            return
        self.groups += 1
        for (_, _, future, _, _), result in zip(group, results, strict=True):
            future.set_result(result)

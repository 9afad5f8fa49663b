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
thread. The thread also keeps SQLAlchemy's connection on one thread, as pysqlite expects.
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

from engine.store.db import write_transaction

T = TypeVar("T")
_Step = tuple[Callable[..., Any], tuple[Any, ...], "Future[Any]", bool, bool]


class Committer:
    def __init__(self, engine: sa.Engine, max_group: int = 256, linger: float = 0.02) -> None:
        self.engine = engine
        self.max_group = max_group
        self.linger = linger
        self.steps: queue.SimpleQueue[_Step | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="ledger", daemon=True)
        self.thread.start()
        self.groups = 0  # transactions committed (for benchmarks)

    def submit(self, fn: Callable[..., T], *args: Any, alone: bool = False,
               urgent: bool = True) -> Future[T]:
        """Queue ``fn(conn, *args)``. ``alone``: in a transaction of its own (steps that run
        other people's code, such as the policy gate, so their failure fails nothing else).
        ``urgent=False``: nobody waits for it (a result), so a group of such steps may wait up
        to ``linger`` seconds for company before it commits."""
        future: Future[T] = Future()
        self.steps.put((fn, args, future, alone, urgent))
        return future

    async def run(self, fn: Callable[..., T], *args: Any, alone: bool = False) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args, alone=alone))

    def close(self) -> None:
        self.steps.put(None)
        self.thread.join()

    def _loop(self) -> None:
        carry: _Step | None = None
        stopping = False
        while not stopping:
            first = carry if carry is not None else self.steps.get()
            carry = None
            if first is None:
                return
            group = [first]
            urgent = first[4]
            deadline = time.monotonic() + self.linger
            while not first[3] and len(group) < self.max_group:
                try:
                    wait = 0.0 if urgent else deadline - time.monotonic()
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
                urgent = urgent or step[4]
            self._commit(group)
            if stopping and carry is not None:
                self._commit([carry])

    def _commit(self, group: list[_Step]) -> None:
        results: list[Any] = []
        try:
            with write_transaction(self.engine) as conn:
                for fn, args, _, _, _ in group:
                    results.append(fn(conn, *args))
        except BaseException as error:  # noqa: B036 - handed to every waiting caller
            for _, _, future, _, _ in group:
                future.set_exception(error)
            return
        self.groups += 1
        for (_, _, future, _, _), result in zip(group, results, strict=True):
            future.set_result(result)

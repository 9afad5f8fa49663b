"""Group commit: every write of the tracking server goes through one writer thread.

A request hands the writer a *job* (a function of an open Connection) and awaits its result. The
writer takes the jobs that are waiting (up to ``batch``), runs them in one transaction, each in
its own savepoint (a job that fails is rolled back alone and its request gets the error), commits,
and only then answers every request. So each event is durable before its response, as the
unsubscribe and click contracts require, while a flood costs one commit per batch instead of one
per request, and the server never holds more than one writing connection (SQLite has one writer
anyway; PostgreSQL's pool cannot be exhausted by beacons).

The queue is bounded. Past ``queue`` waiting jobs, *droppable* work (beacons, opens) is refused
at once and counted in ``stats.dropped`` (tracking loss allowed but counted, RELIABILITY T-H7);
other work (clicks, unsubscribes, forms) may wait up to four times as long a queue before it is
refused too, and its request answers 503 so that the client retries.

Jobs must only touch the database: after a failed commit nothing of the batch is stored and
every request of the batch gets the error.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from engine.store.db import write_transaction

T = TypeVar("T")
Job = Callable[[Connection], Any]
log = logging.getLogger("engine.track")


class Dropped(Exception):
    """The write queue is full: nothing was written."""


@dataclass
class Stats:
    jobs: int = 0
    failed: int = 0
    dropped: int = 0
    batches: int = 0


@dataclass
class _Item:
    job: Job
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class Writer:
    def __init__(self, engine: Engine, batch: int = 200, limit: int = 2000) -> None:
        self.engine = engine
        self.batch = batch
        self.limit = limit
        self.stats = Stats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="track-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs already queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def run(self, job: Callable[[Connection], T], *, droppable: bool = False) -> T:
        """Run ``job`` in the next batch; returns its result once the batch is committed."""
        waiting = self._queue.qsize()
        if waiting >= (self.limit if droppable else 4 * self.limit) or self._thread is None:
            self.stats.dropped += 1
            raise Dropped
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Item(job, future, loop))
        return await future

    # ------------------------------------------------------------ the writer thread

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            items: list[_Item] = [first]
            while len(items) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                items.append(more)
            self._execute(items)

    def _execute(self, items: list[_Item]) -> None:
        outcomes: list[tuple[_Item, bool, Any]] = []
        try:
            with write_transaction(self.engine) as conn:
                for item in items:
                    try:
                        with conn.begin_nested():
                            outcomes.append((item, True, item.job(conn)))
                    except Exception as exc:  # noqa: BLE001 - handed to the request
                        outcomes.append((item, False, exc))
        except Exception as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: nothing stored
            log.warning("tracking write failed (%d requests): %s", len(items), exc)
            outcomes = [(item, False, exc) for item in items]
        self.stats.batches += 1
        for item, ok, value in outcomes:
            self.stats.jobs += 1
            if not ok:
                self.stats.failed += 1
            try:
                item.loop.call_soon_threadsafe(_settle, item.future, ok, value)
            except RuntimeError:  # the event loop is gone (shutdown): nobody is waiting
                pass


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the request was cancelled (client gone); the write stands
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

"""Limits and hardening: per-IP rate limits (bounded memory), early 413s, security headers on
every answer, and the group-commit writer's bounded queue and per-job isolation (T-H6, T-H7)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from engine.store.schema import leads
from engine.track.ratelimit import RateLimiter
from engine.track.settings import Limits
from engine.track.writer import Dropped, Writer
from tests.engine.track.conftest import (
    SITE,
    T0,
    Clock,
    TestClient,
    event_rows,
    make_client,
    send_message,
)

# ---------------------------------------------------------------- the rate limiter


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    ticks = Ticks()
    limiter = RateLimiter(rate=2.0, burst=3, clock=ticks)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 1 and limiter.refused == 1
    assert limiter.allow("b")  # another client has its own bucket
    ticks.now = 0.5
    assert limiter.allow("a") and not limiter.allow("a")
    ticks.now = 100.0
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_the_limiter_keeps_a_bounded_number_of_clients() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=100, clock=Ticks())
    for i in range(10_000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter.buckets) == 100
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


# ---------------------------------------------------------------- the guard


def test_t_h7_a_flood_of_clicks_from_one_address_is_refused_with_429(
        lite: sa.Engine, clock: Clock) -> None:
    sent = send_message(lite)
    with make_client(lite, clock, Limits(rate_mail=(0.01, 5))) as client:
        answers = [client.get(sent.click(0)) for _ in range(20)]
        beacon = client.post("/collect", content=b"{}", headers={"origin": SITE,
                                                                 "content-type": "text/plain"})
    assert [a.status_code for a in answers] == [302] * 5 + [429] * 15
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert len(event_rows(lite, "email_click")) == 5
    assert beacon.status_code == 400  # beacons have their own bucket


PATHS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/c/x.y/0", {}), ("GET", "/o/x.y.gif", {}), ("GET", "/u/x.y", {}),
    ("POST", "/u/x.y", {"data": {"List-Unsubscribe": "One-Click"}}), ("GET", "/t.js", {}),
    ("POST", "/collect", {"headers": {"origin": SITE}, "content": b"{}"}),
    ("POST", "/f/contact", {"headers": {"origin": SITE}, "data": {"email": "x"}}),
    ("GET", "/healthz", {}), ("GET", "/nothing-here", {}), ("DELETE", "/u/x.y", {}),
    ("POST", "/u/x.y", {"content": b"x" * 5000}), ("POST", "/u/x.y/", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), PATHS)
def test_every_answer_carries_the_security_headers(lite_client: TestClient, method: str,
                                                   path: str, kwargs: dict[str, Any]) -> None:
    response = lite_client.request(method, path, **kwargs)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
    assert headers["x-frame-options"] == "DENY"
    assert "cache-control" in headers
    assert "server" not in headers or "uvicorn" not in headers["server"]
    assert response.status_code < 300 or response.status_code >= 400  # never a redirect here


@pytest.mark.parametrize(("path", "size"), [("/u/x.y", 1025), ("/collect", 4097),
                                            ("/f/contact", 16 * 1024 + 1), ("/c/x.y/0", 2000)])
def test_t_h6_a_declared_body_over_the_cap_is_413_before_reading(
        lite_client: TestClient, path: str, size: int) -> None:
    response = lite_client.request("POST" if not path.startswith("/c/") else "GET", path,
                                   content=b"a" * size, headers={"origin": SITE})
    assert response.status_code == 413


# ---------------------------------------------------------------- the writer


def add(email: str) -> Any:
    def job(conn: sa.Connection) -> int:
        return int(conn.execute(leads.insert().values(
            email=email, created_at=T0, updated_at=T0).returning(leads.c.id)).scalar_one())
    return job


def test_t_h7_the_write_queue_is_bounded_and_drops_only_droppable_work(lite: sa.Engine) -> None:
    gate = threading.Event()

    async def main() -> tuple[list[Any], Writer]:
        writer = Writer(lite, batch=50, limit=2)
        writer.start()
        first = asyncio.ensure_future(writer.run(lambda conn: gate.wait(10)))
        await asyncio.sleep(0.2)  # the writer thread now waits inside the first job
        queued = [asyncio.ensure_future(writer.run(add(f"q{i}@x.jp"), droppable=True))
                  for i in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(Dropped):
            await writer.run(add("dropped@x.jp"), droppable=True)
        kept = asyncio.ensure_future(writer.run(add("kept@x.jp")))  # not droppable: waits
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *queued, kept)
        writer.stop()
        return results, writer

    results, writer = asyncio.run(main())
    assert results[0] is True and writer.stats.dropped == 1
    with lite.connect() as conn:
        emails = set(conn.execute(sa.select(leads.c.email)).scalars())
    assert emails == {"q0@x.jp", "q1@x.jp", "kept@x.jp"}


def test_a_failing_job_fails_alone_and_the_rest_of_its_batch_is_committed(
        lite: sa.Engine) -> None:
    gate = threading.Event()

    def boom(conn: sa.Connection) -> None:
        raise RuntimeError("boom")

    async def main() -> list[Any]:
        writer = Writer(lite, batch=50, limit=100)
        writer.start()
        blocker = asyncio.ensure_future(writer.run(lambda conn: gate.wait(10)))
        await asyncio.sleep(0.2)
        jobs = [asyncio.ensure_future(writer.run(job)) for job in (
            add("a@x.jp"), boom, add("a@x.jp"), add("b@x.jp"))]  # the 2nd a@: a unique key
        await asyncio.sleep(0.05)
        gate.set()
        out = await asyncio.gather(blocker, *jobs, return_exceptions=True)
        writer.stop()
        assert writer.stats.batches == 2 and writer.stats.failed == 2
        return out

    out = asyncio.run(main())
    assert isinstance(out[2], RuntimeError) and isinstance(out[3], sa.exc.IntegrityError)
    assert isinstance(out[1], int) and isinstance(out[4], int)
    with lite.connect() as conn:
        assert set(conn.execute(sa.select(leads.c.email)).scalars()) == {"a@x.jp", "b@x.jp"}


def test_a_stopped_writer_refuses_work(lite: sa.Engine) -> None:
    writer = Writer(lite)

    async def main() -> None:
        with pytest.raises(Dropped):
            await writer.run(add("x@x.jp"))

    asyncio.run(main())

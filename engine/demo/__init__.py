"""Realistic, deterministic demo data for the lead store (``engine demo``, bench/gen_store.py).

The same (number of leads, seed, T) always gives the same rows, on every machine: everything
comes from :class:`random.Random` seeded per chunk of :data:`CHUNK` leads, over hand-written
vocabularies (:mod:`engine.demo.vocab`). Chunks are independent, so a loader may generate them in
parallel processes and still get the same data.

    >>> import datetime as dt
    >>> at = int(dt.datetime(2026, 11, 23, tzinfo=dt.UTC).timestamp())
    >>> chunk = next(generate(10, seed=1, at=at))
    >>> len(chunk.leads), chunk.leads[0][LEAD_FIELDS.index("email")].endswith(".1@example.co.jp")
    (10, True)

Rows are tuples (:data:`LEAD_FIELDS`, :data:`EVENT_FIELDS`) with times as UTC epoch seconds;
:mod:`engine.demo.store` writes them through SQLAlchemy, the benchmark loader writes them raw.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.demo.behaviour import EVENT_FIELDS, Calendar, events_for
from engine.demo.people import DAY, LEAD_FIELDS, LeadMaker, Profile, companies

__all__ = ["CHUNK", "DAY", "EVENT_FIELDS", "LEAD_FIELDS", "Chunk", "DataSet", "Profile",
           "chunk_count", "generate"]

CHUNK = 1000
DEFAULT_LEADS = 5000
DEFAULT_SEED = 1


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    leads: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    profiles: list[Profile]


def chunk_count(leads: int) -> int:
    return -(-leads // CHUNK)


class DataSet:
    """The generator of one data set: ``chunk(c)`` makes leads ``c*CHUNK+1 ..`` and their events.
    Build it once per process (it holds the pool of companies)."""

    def __init__(self, leads: int, seed: int, at: int) -> None:
        if leads < 0:
            raise ValueError("the number of leads cannot be negative")
        self.leads, self.seed, self.at = leads, seed, at
        self.maker = LeadMaker(seed, at, companies(seed, max(20, leads // 4)))
        self.calendar = Calendar.before(at)

    def chunk(self, c: int) -> Chunk:
        rng = random.Random(f"{self.seed}/{c}")
        basis_rng = random.Random(f"{self.seed}/{c}/legal_basis")
        rows, events, profiles = [], [], []
        for i in range(c * CHUNK + 1, min(self.leads, (c + 1) * CHUNK) + 1):
            row, profile = self.maker.make(rng, i, basis_rng)
            rows.append(row)
            profiles.append(profile)
            events.extend(events_for(rng, profile, self.at, self.calendar))
        return Chunk(c, rows, events, profiles)


def generate(leads: int, seed: int, at: int, chunks: range | None = None) -> Iterator[Chunk]:
    """Leads 1..``leads`` with their events, a chunk at a time. ``at``: T, in UTC epoch seconds
    (every event is before it). ``chunks``: only these chunk numbers (for parallel loaders)."""
    data = DataSet(leads, seed, at)
    for c in chunks if chunks is not None else range(chunk_count(leads)):
        yield data.chunk(c)

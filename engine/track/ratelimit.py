"""Per-client token buckets in memory, bounded: a flood from many addresses cannot grow it.

Each key (client address and class of endpoint) has a bucket of ``burst`` tokens refilled at
``rate`` per second; a request takes one. At most ``max_keys`` buckets are kept: the least
recently used goes first, which at worst forgets a quiet client's history (it starts again with
a full bucket). Used from the event loop only (no locks). The clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self.refused = 0

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, at = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        else:
            self.refused += 1
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return allowed

    def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` has a token again (at least 1)."""
        tokens, _ = self.buckets.get(key, (self.burst, 0.0))
        return max(1, int((1.0 - tokens) / self.rate + 0.999))

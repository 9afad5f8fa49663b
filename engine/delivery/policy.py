"""How a worker retries, gives up and holds its claims: plain values with pure arithmetic.

The engine retries towards its own relay, which queues and retries towards the Internet for days
(RFC 5321 4.5.4.1), so the engine's own retries can be shorter; but a nurture email has a shelf
life ("Monday 9am" delivered on Friday is worse than none), hence a maximum age as well as a
maximum number of attempts. Every knob is configurable (RFC 5321 requires it of retry schedules).

Environment (read by :meth:`WorkerOptions.from_environ`; the CLI may offer the same as options):
``ENGINE_DELIVERY_MAX_ATTEMPTS`` (8), ``ENGINE_DELIVERY_MAX_AGE`` (``3d``; also ``12h``,
``90m``, ``600s`` or plain seconds), ``ENGINE_DELIVERY_RETRY_BASE`` (``1m``),
``ENGINE_DELIVERY_RETRY_MAX`` (``1h``), ``ENGINE_DELIVERY_AT_LEAST_ONCE`` (``0``),
``ENGINE_DELIVERY_BATCH`` (200), ``ENGINE_DELIVERY_LEASE`` (``10m``),
``ENGINE_DELIVERY_SENDING_CHUNK`` (8).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from engine.config import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff ``base * factor**(attempts-1)``, capped, never shorter than a hint
    the relay gave ("try again in 5 minutes"); give up after ``max_attempts`` or ``max_age``."""

    base_seconds: float = 60.0
    factor: float = 2.0
    max_delay_seconds: float = 3600.0
    max_attempts: int = 8
    max_age_seconds: float = 3 * 86400.0

    def delay(self, attempts: int, hint: float | None = None) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt (1-based)."""
        exponent = max(0, attempts - 1)
        seconds = min(self.max_delay_seconds, self.base_seconds * self.factor ** min(exponent, 60))
        if hint is not None:
            seconds = max(seconds, hint)
        return timedelta(seconds=seconds)

    def expired(self, created_at: datetime, now: datetime) -> bool:
        return (now - created_at).total_seconds() >= self.max_age_seconds

    def give_up(self, attempts: int, created_at: datetime, now: datetime) -> str | None:
        """Why retrying must stop (None: retry). ``attempts`` counts the one that just failed."""
        if attempts >= self.max_attempts:
            return f"gave up after {attempts} attempts (max {self.max_attempts})"
        if self.expired(created_at, now):
            return f"gave up: older than {_human(self.max_age_seconds)} (max age)"
        return None


def _default_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """One delivery worker: who it is (the lease owner), how much it claims at a time, how long
    its claims last, how it retries, and what it does with an ``unknown`` outcome."""

    id: str = field(default_factory=_default_id)
    batch: int = 200
    lease_seconds: float = 600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    at_least_once: bool = False  # resend an "unknown" message once, with the same Message-ID
    pool: int | None = None  # SMTP connections; None: the URL's pool (default 4)
    # Messages a connection marks `sending` in one commit before sending them in turn: the
    # last suppression check and the durable mark cost one commit per chunk instead of one per
    # message; a crash leaves at most 2 x chunk x connections rows `unknown` (the chunk being
    # sent and the one being marked behind it).
    sending_chunk: int = 8
    webhook_timeout: float = 10.0
    webhook_tries: int = 3  # POSTs within one run before the row is deferred
    webhook_backoff: float = 0.5  # seconds before the 2nd try, doubled after
    webhook_concurrency: int = 2

    def __post_init__(self) -> None:
        if self.batch < 1 or self.sending_chunk < 1:
            raise ConfigError("the delivery batch and sending chunk must be at least 1")
        if self.lease_seconds < 0.1:
            raise ConfigError("the delivery lease must be at least 0.1 second")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerOptions:
        env = os.environ if environ is None else environ
        retry = RetryPolicy()
        if env.get("ENGINE_DELIVERY_MAX_ATTEMPTS"):
            retry = replace(retry, max_attempts=_int(env, "ENGINE_DELIVERY_MAX_ATTEMPTS"))
        if env.get("ENGINE_DELIVERY_MAX_AGE"):
            retry = replace(retry, max_age_seconds=_seconds(env, "ENGINE_DELIVERY_MAX_AGE"))
        if env.get("ENGINE_DELIVERY_RETRY_BASE"):
            retry = replace(retry, base_seconds=_seconds(env, "ENGINE_DELIVERY_RETRY_BASE"))
        if env.get("ENGINE_DELIVERY_RETRY_MAX"):
            retry = replace(retry, max_delay_seconds=_seconds(env, "ENGINE_DELIVERY_RETRY_MAX"))
        options = cls(retry=retry)
        if env.get("ENGINE_DELIVERY_BATCH"):
            options = replace(options, batch=_int(env, "ENGINE_DELIVERY_BATCH"))
        if env.get("ENGINE_DELIVERY_SENDING_CHUNK"):
            options = replace(options,
                              sending_chunk=_int(env, "ENGINE_DELIVERY_SENDING_CHUNK"))
        if env.get("ENGINE_DELIVERY_LEASE"):
            options = replace(options, lease_seconds=_seconds(env, "ENGINE_DELIVERY_LEASE"))
        flag = env.get("ENGINE_DELIVERY_AT_LEAST_ONCE", "").strip().lower()
        if flag not in ("", "0", "false", "no", "1", "true", "yes"):
            raise ConfigError(f"ENGINE_DELIVERY_AT_LEAST_ONCE={flag!r}: use 1 or 0")
        return replace(options, at_least_once=flag in ("1", "true", "yes"))


def parse_duration(text: str) -> float:
    """Seconds from ``"90"``, ``"600s"``, ``"15m"``, ``"12h"`` or ``"3d"``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 600s, 15m, 12h, 3d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _seconds(env: Mapping[str, str], key: str) -> float:
    try:
        return parse_duration(env[key])
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _int(env: Mapping[str, str], key: str) -> int:
    try:
        value = int(env[key])
    except ValueError:
        raise ConfigError(f"{key}={env[key]!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{key} must be at least 1")
    return value


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

"""Named crash points, so tests can kill a worker exactly where RELIABILITY.md 6.1 says.

``ENGINE_CRASH_AT=after_claim_commit`` kills the process (SIGKILL, no cleanup, no flush) the
first time it passes that point; ``ENGINE_CRASH_AT=after_claim_commit:3`` the third time. With
the variable unset (production) a crash point costs one dictionary lookup.

Points: ``after_enqueue_commit`` (for enqueuing code), ``after_claim_commit``, ``mid_data``
(part of the message written, final dot not), ``after_250_before_commit``, ``after_sent_commit``.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "ENGINE_CRASH_AT"
POINTS = ("after_enqueue_commit", "after_claim_commit", "mid_data", "after_250_before_commit",
          "after_sent_commit")
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here if ENGINE_CRASH_AT names this point (and this is the pass it names)."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)

"""What one delivery run did, counted per final status (the CLI prints it; tests assert on it)."""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("sent", "deferred", "failed", "suppressed", "unknown", "released", "lost")
"""``released``: handed back unsent (a stopped run); ``lost``: the row moved under us (our lease
expired and another worker or the reaper took it): nothing recorded by this worker."""


@dataclass
class DeliveryReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    claimed: int = 0
    reaped_to_pending: int = 0
    reaped_to_unknown: int = 0
    resent_unknown: int = 0  # at-least-once policy: unknown rows queued again
    reconciled: int = 0  # unknown rows settled against the mail folder
    alerts: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (sender configuration, relay down)
    seconds: float = 0.0

    def __getitem__(self, status: str) -> int:
        return self.counts[status]

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1

    def summary(self) -> str:
        parts = [f"{n} {s}" for s, n in self.counts.items() if n]
        line = ", ".join(parts) or "nothing due"
        if self.reaped_to_unknown:
            line += f"; {self.reaped_to_unknown} became unknown (lease expired while sending)"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        return f"delivery: {line} in {self.seconds:.1f} s"

"""Scores in the reference interpreter: the sum of a score's lines at T, line by line and event
by event, so that ``engine explain`` can show where every point came from.

A line ``+P per <events> [in last D]`` gives P for each matching event inside its window (the
line's, else the score's ``window``, else all time), times 0.5 ^ (age / half-life) when the score
has a half-life (age from T in fractional days); ``+P when CONDITION`` gives P when the condition
holds; ``at most M`` caps the total. A score is never unknown. Events the tracking server flagged
as automated (``Event.machine``) give no points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from dsl import ast as A
from engine.conditions import model as M
from engine.conditions.model import ConditionError, Event


@dataclass(frozen=True, slots=True)
class Options:
    half_life: A.Duration | None = None
    window: A.Duration | None = None
    cap: float | None = None

    @property
    def half_life_days(self) -> float | None:
        if self.half_life is None:
            return None
        h = M.days(self.half_life)
        if h <= 0:
            raise ConditionError("a half-life must be longer than zero")
        return h


def options(score: A.Score) -> Options:
    """The score's options (the first of each kind: the checker reports repeats)."""
    found: dict[str, A.ScoreOption] = {}
    for line in score.lines:
        if isinstance(line, A.ScoreOption):
            found.setdefault(line.kind, line)
    cap = found.get("cap")
    return Options(
        half_life=found["half-life"].duration if "half-life" in found else None,
        window=found["window"].duration if "window" in found else None,
        cap=float(cap.value) if cap is not None and cap.value is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one line gave: per event (``event`` set) or for a ``when`` line (``held``)."""

    line: A.EventPoints | A.WhenPoints
    points: float
    value: float
    event: Event | None = None
    age_days: float = 0.0
    decay: float = 1.0
    held: bool = True


@dataclass
class Breakdown:
    score: A.Score
    options: Options
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def subtotal(self) -> float:
        return sum(c.value for c in self.contributions)

    @property
    def capped(self) -> bool:
        return self.options.cap is not None and self.subtotal > self.options.cap

    @property
    def total(self) -> float:
        cap = self.options.cap
        return min(self.subtotal, cap) if cap is not None else self.subtotal


def decay(age_days: float, half_life_days: float | None) -> float:
    return 1.0 if half_life_days is None else 0.5 ** (age_days / half_life_days)


def breakdown(score: A.Score, at: dt.datetime,
              in_window: Callable[[A.Duration | None], list[Event]],
              holds: Callable[[A.Condition], bool],
              matches: Callable[[Event, A.EventMatch], bool]) -> Breakdown:
    """Every contribution to ``score`` at T; the callbacks come from the interpreter (events as
    of T inside a window, whether a condition holds, whether an event matches a phrase)."""
    opts = options(score)
    h = opts.half_life_days
    out = Breakdown(score, opts)
    for line in score.lines:
        if isinstance(line, A.EventPoints):
            for e in in_window(line.window or opts.window):
                if not e.machine and matches(e, line.event):
                    age = (at - M.utc(e.at)).total_seconds() / M.DAY
                    f = decay(age, h)
                    out.contributions.append(Contribution(
                        line, float(line.points), line.points * f, e, age, f))
        elif isinstance(line, A.WhenPoints):
            held = holds(line.condition)
            out.contributions.append(Contribution(
                line, float(line.points), float(line.points) if held else 0.0, held=held))
    return out

"""W0111: two flows that can email the same lead on the same day.

A flow emails on its entry day when a `send` is reachable from its first step without a `wait`
(branches of `if` and splits are followed; a repeat sends at once on its first round, and nothing
after it is followed). Two such flows collide unless their entry conditions provably exclude each
other (``dsl.logic``) or their schedules never fire on the same weekday. Entering on different
events does not separate flows: one lead can do both. The later flow (by file, then line) gets
the warning, naming the first earlier flow it collides with.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl.checks.memo import shared_reasoner
from dsl.checks.shared import word_at
from dsl.diagnostics import Diagnostic, warning
from dsl.formatter import duration
from dsl.logic.atoms import Subject, measure
from dsl.logic.sets import Values
from dsl.logic.solve import Conjunct, Reasoner

if TYPE_CHECKING:
    from dsl.check import Context

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS = frozenset(range(7))
DAY_WORDS = {"day": ALL_DAYS, "weekday": frozenset(range(5)), "weekend": frozenset({5, 6}),
             **{d: frozenset({k}) for k, d in enumerate(WEEK)},
             **{d[:3]: frozenset({k}) for k, d in enumerate(WEEK)}}


@dataclass
class Sender:
    flow: A.Flow
    send: A.Send
    audience: list[Conjunct]
    days: frozenset[int]
    zones: frozenset[str | None]
    # numeric subject -> (low, high) that every lead of the audience lies within
    hulls: dict[Subject, tuple[float, float]] = field(default_factory=dict)
    key_hull: tuple[float, float] | None = None


def check_overlap(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    reasoner = shared_reasoner(modules)
    caps = [line for m in modules for i in m.items if isinstance(i, A.Policy) for line in i.lines
            if isinstance(line, A.CapRule)]
    found = [i for m in modules for i in m.items if isinstance(i, A.Flow)]
    found.sort(key=lambda f: (f.span.file, f.span.line, f.span.column))
    senders = [s for s in (_sender(f, reasoner) for f in found) if s is not None]
    _choose_key(senders)
    near = _near(senders)
    out: list[Diagnostic] = []
    for k, cur in enumerate(senders):
        for j in near[k]:
            prev = senders[j]
            if _same_day(prev, cur) and not reasoner.disjoint(prev.audience, cur.audience):
                out.append(_finding(prev, cur, caps))
                break
    return out


def _near(senders: list[Sender]) -> list[list[int]]:
    """For each sender, the earlier ones (by position, in order) that the key does not put
    apart: every earlier sender without a key range, or whose range meets this one's. A sweep
    over the ranges sorted by their low end finds the meeting pairs without trying them all."""
    keyless = [k for k, s in enumerate(senders) if s.key_hull is None]
    meets: list[list[int]] = [[] for _ in senders]
    ranged = sorted((s.key_hull[0], k) for k, s in enumerate(senders) if s.key_hull is not None)
    active: list[tuple[float, int]] = []  # (high end, index), lowest high end first
    for lo, k in ranged:
        while active and active[0][0] < lo:
            heapq.heappop(active)  # ends below this range, and below every later one
        for _, j in active:
            meets[max(j, k)].append(min(j, k))
        hull = senders[k].key_hull
        assert hull is not None
        heapq.heappush(active, (hull[1], k))
    out: list[list[int]] = []
    for k, s in enumerate(senders):
        if s.key_hull is None:
            out.append(list(range(k)))
        else:
            out.append(sorted({*meets[k], *(j for j in keyless if j < k)}))
    return out


def _choose_key(senders: list[Sender]) -> None:
    """Every pair of flows must be compared, and a full comparison is costly: a folder of 1,000
    flows makes half a million pairs. Most folders keep audiences apart by the same attribute (a
    size band, a score band), so the numeric subject bounded in the most flows becomes a key,
    and two flows whose ranges on it do not meet are apart without further work (``_near``)."""
    counts: dict[Subject, int] = {}
    for s in senders:
        for subject in s.hulls:
            counts[subject] = counts.get(subject, 0) + 1
    if not counts:
        return
    key = max(counts, key=lambda k: counts[k])
    for s in senders:
        s.key_hull = s.hulls.get(key)


def _hulls(audience: list[Conjunct], r: Reasoner) -> dict[Subject, tuple[float, float]]:
    """For subjects that every conjunct bounds to numbers only (no unknown, no text), the
    smallest range holding all of them. Sound: outside it no lead of the audience can be."""
    out: dict[Subject, tuple[float, float]] = {}
    for k, conj in enumerate(audience):
        mine: dict[Subject, Values] = {}
        for item in conj:
            mine[item.subject] = mine[item.subject].intersect(item.values) if (
                item.subject in mine) else item.values
        bounds: dict[Subject, tuple[float, float]] = {}
        for subject, v in mine.items():
            if v.unknown or v.other or not v.text.is_empty() or not v.word.is_empty():
                continue
            if v.num.parts:
                bounds[subject] = (v.num.parts[0].lo, v.num.parts[-1].hi)
        if k == 0:
            out = bounds
        else:
            out = {s: (min(lo, bounds[s][0]), max(hi, bounds[s][1]))
                   for s, (lo, hi) in out.items() if s in bounds}
    return out


def _sender(flow: A.Flow, r: Reasoner) -> Sender | None:
    send, _ = first_day_send(flow.steps)
    entries = [*flow.settings(A.EnterWhen), *flow.settings(A.EnterOn)]
    if send is None or not entries:
        return None
    audience: list[Conjunct] = []
    for e in entries:
        conj = r.conjuncts(e.condition) if e.condition is not None else None
        audience.extend(conj if conj is not None else [()])
    days, zones = schedule_days(flow)
    return Sender(flow, send, audience, days, zones, _hulls(audience, r))


def first_day_send(steps: Sequence[A.Step]) -> tuple[A.Send | None, bool]:
    """(a send a lead can get on the day it enters, whether the block can end without one)."""
    for step in steps:
        if isinstance(step, A.Send):
            return step, False
        if isinstance(step, A.WaitFor | A.WaitUntil | A.WaitEvent | A.ExitStep):
            return None, False
        if isinstance(step, A.Repeat):
            return first_day_send(step.steps)[0], False
        blocks: list[Sequence[A.Step] | None] = []
        if isinstance(step, A.If):
            blocks = [b.steps for b in step.branches] + [step.otherwise]
        elif isinstance(step, A.Split):
            blocks = [b.steps for b in step.branches]
        go_on = False
        for block in blocks:
            if block is None:  # no `else`, or a holdout: leads go straight on
                go_on = True
                continue
            found, through = first_day_send(block)
            if found is not None:
                return found, False
            go_on = go_on or through
        if blocks and not go_on:
            return None, False
    return None, True


def schedule_days(flow: A.Flow) -> tuple[frozenset[int], frozenset[str | None]]:
    """The weekdays (0 = Monday) a flow may start leads on, and the time zones they are in.
    Event-entered flows and flows without a schedule may start leads any day."""
    schedules = flow.settings(A.Schedule)
    if not schedules or flow.settings(A.EnterOn):
        return ALL_DAYS, frozenset({None})
    days: set[int] = set()
    for s in schedules:
        if s.kind == "every":
            for word in s.days:
                w = word.lower()
                days |= DAY_WORDS.get(w, DAY_WORDS.get(w.removesuffix("s"), ALL_DAYS))
        elif s.kind == "cron" and s.cron is not None:
            days |= cron_days(s.cron)
        else:
            days |= ALL_DAYS
    return frozenset(days), frozenset(s.zone for s in schedules)


def cron_days(expr: str) -> frozenset[int]:
    """The weekdays a cron expression can fire on; every day when in doubt."""
    fields = expr.split()
    if len(fields) != 5 or fields[2] not in ("*", "?") or fields[3] not in ("*", "?"):
        return ALL_DAYS  # a day of the month can fall on any weekday
    days: set[int] = set()
    for part in fields[4].lower().split(","):
        ends = [_cron_day(x) for x in part.split("-")]
        if part in ("*", "?"):
            return ALL_DAYS
        if any(e is None for e in ends) or len(ends) > 2:
            return ALL_DAYS
        lo, hi = ends[0], ends[-1]
        assert lo is not None and hi is not None
        span = range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)]
        days.update(span)
    return frozenset(days) or ALL_DAYS


def _cron_day(x: str) -> int | None:
    if x.isdigit() and int(x) <= 7:
        return (int(x) - 1) % 7  # cron: 0 and 7 are Sunday, 1 is Monday
    names = [d[:3] for d in WEEK]
    return names.index(x) if x in names else None


def _same_day(a: Sender, b: Sender) -> bool:
    if a.zones != b.zones or len(a.zones) != 1:
        return True  # days in different time zones overlap at their edges
    return bool(a.days & b.days)


def _finding(prev: Sender, cur: Sender, caps: list[A.CapRule]) -> Diagnostic:
    a, b = prev.flow, cur.flow
    where = word_at(b.span, len("flow "), b.name)
    notes = [f"`{a.name}` ({a.span.file}:{a.span.line}) sends on the day a lead enters (line "
             f"{prev.send.span.line}), and so does this flow (line {cur.send.span.line})"]
    hint = "make the two entry conditions exclude each other, or start one flow with a `wait`"
    if caps:
        cap = caps[0]
        rule = f"at most {cap.count} {cap.noun} per lead per {duration(cap.per)}"
        at = f"{cap.span.file}:{cap.span.line}"
        per = measure(cap.per)
        if cap.count <= 1 and per is not None and (per[0] == "months" or per[1] >= 1):
            notes.append(f"the policy's `{rule}` ({at}) will defer one of them")
        else:
            notes.append(f"the policy's `{rule}` ({at}) still lets both through on one day")
    else:
        hint = ("make the two entry conditions exclude each other, or add a per-lead cap to "
                "the policy, such as `at most 1 email per lead per day`")
    return warning("W0111", f"flow `{b.name}` can email the same lead on the same day as flow "
                   f"`{a.name}`", where, hint, *notes)

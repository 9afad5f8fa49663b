"""Flow schedules as APScheduler 3 triggers, and the `engine run` loop.

APScheduler keeps only in-memory jobs here (RELIABILITY 4.1: a shared job store between
processes is unsupported); each job fires an idempotent tick, and correctness lives in the
database (unique keys, compare-and-set, claims), so several `engine run` processes may run the
same schedules at once.

    trigger_for(schedule)          # CronTrigger / IntervalTrigger in the schedule's time zone
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from dsl import ast as A
from engine.conditions.model import seconds
from engine.runtime.windows import DEFAULT_ZONE, zone_info

DAY_OF_WEEK = {"monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
               "friday": "fri", "saturday": "sat", "sunday": "sun", "weekday": "mon-fri",
               "weekend": "sat,sun", "day": "*"}
DEFAULT_SCHEDULE = A.Schedule("interval", interval=A.Duration(1, "hour"))


class SafeTrigger(BaseTrigger):  # type: ignore[misc]
    """A trigger that fires strictly later each time and once per local wall-clock time.

    APScheduler 3's CronTrigger returns the ambiguous fall-back time twice (01:30 EDT, then
    01:30 EST) and then keeps returning the same instant (RELIABILITY T-D2, T-D3): a schedule
    "every day at 01:30" must tick once that night and then move on to the next day."""

    def __init__(self, inner: BaseTrigger) -> None:
        self.inner = inner
        # "at 01:30" names a wall-clock time; "every 1 hour" names elapsed time
        self.wall_clock = not isinstance(inner, IntervalTrigger)

    def get_next_fire_time(self, previous: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime | None:
        # The inner trigger is asked "what comes at or after this instant" (previous=None):
        # given a previous fire time it would start from previous + 1 microsecond in local
        # time, which is where it loops at a fall-back.
        start = now if previous is None else max(now, previous + dt.timedelta(microseconds=1))
        for _ in range(48 * 60):
            candidate = self.inner.get_next_fire_time(None, start)
            if candidate is None or previous is None:
                return candidate
            same_wall = (self.wall_clock and candidate.replace(tzinfo=None)
                         == previous.replace(tzinfo=None))
            if candidate <= previous or same_wall:
                start = max(start, candidate) + dt.timedelta(minutes=1)  # the same wall time
                continue
            return candidate
        return None

    def __str__(self) -> str:
        return str(self.inner)


def trigger_for(schedule: A.Schedule | None, default_zone: str = DEFAULT_ZONE,
                start: dt.datetime | None = None) -> BaseTrigger:
    """The trigger of a flow's schedule; a flow without one ticks every hour. ``start``:
    where intervals count from (default: now)."""
    return SafeTrigger(_trigger(schedule, default_zone, start))


def _trigger(schedule: A.Schedule | None, default_zone: str,
             start: dt.datetime | None) -> BaseTrigger:
    schedule = schedule or DEFAULT_SCHEDULE
    zone = zone_info(schedule.zone or default_zone) or zone_info(DEFAULT_ZONE)
    if schedule.kind == "cron":
        assert schedule.cron is not None
        return CronTrigger.from_crontab(schedule.cron, timezone=zone)
    if schedule.kind == "interval":
        assert schedule.interval is not None
        # Elapsed time knows no zone: in a DST zone APScheduler's interval arithmetic on wall
        # times skips the repeated hour of a fall-back night.
        return IntervalTrigger(seconds=seconds(schedule.interval), timezone=dt.UTC,
                               start_date=start)
    days = ",".join(DAY_OF_WEEK.get(d, d[:3]) for d in schedule.days) or "*"
    hours = sorted({t.split(":")[0] for t in schedule.times}) or ["0"]
    minutes = sorted({t.split(":")[1] for t in schedule.times}) or ["0"]
    if len(schedule.times) > 1 and len(hours) > 1 and len(minutes) > 1:
        # "at 09:00 and 13:30": one trigger per time would be needed; a cron cross product
        # would add 09:30 and 13:00. Combine exact times with an OrTrigger.
        from apscheduler.triggers.combining import OrTrigger

        return OrTrigger([CronTrigger(day_of_week=days, hour=int(t.split(":")[0]),
                                      minute=int(t.split(":")[1]), timezone=zone)
                          for t in schedule.times])
    return CronTrigger(day_of_week=days, hour=",".join(str(int(h)) for h in hours),
                       minute=",".join(str(int(m)) for m in minutes), timezone=zone)


def fire_times(trigger: BaseTrigger, start: dt.datetime, end: dt.datetime,
               limit: int = 10_000) -> list[dt.datetime]:
    """Every time the trigger fires in (start, end]: what `simulate` ticks at, and what the
    DST tests check (strictly increasing, none skipped, none doubled)."""
    out: list[dt.datetime] = []
    previous: Any = None
    now = start
    while len(out) < limit:
        nxt = trigger.get_next_fire_time(previous, now)
        if nxt is None or nxt > end:
            break
        if nxt > start:
            out.append(nxt.astimezone(dt.UTC))
        previous = nxt
        now = nxt + dt.timedelta(microseconds=1)
    return out

"""Pass: values written in a closed vocabulary or a fixed shape: units, days, times, time zones,
cron strings, schedules of flows, the policy's sending window and cap, shares of a split.

Codes: E0310 unknown unit of time, E0311 a duration of zero, E0312 unknown day word, E0313 not a
time of day, E0314 unknown time zone, E0315 bad cron string, E0316 a flow entered by condition
without a schedule, E0317 a second schedule, E0318 a sending window that ends before it starts,
E0319 unknown sending days, E0320 a policy cap on something other than emails, E0321 a split
branch with no share, E0322 a limit of zero (``at most 0 times``, ``at most 0 per day``).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import schema
from dsl.checks.cron import cron_problem
from dsl.checks.memo import per_folder
from dsl.checks.walk import first_line, index, quote, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error

if TYPE_CHECKING:
    from dsl.check import Context

TIME = re.compile(r"(\d{1,2}):(\d{2})")
UNIT_WORDS = (*schema.UNITS, *(u + "s" for u in schema.UNITS))
DAY_WORDS = (*schema.DAY_WORDS, *(d + "s" for d in schema.DAY_WORDS))


@functools.cache
def zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_ok(name: str) -> bool:
    if name in zones():
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def time_ok(text: str) -> bool:
    m = TIME.fullmatch(text)
    return m is not None and int(m.group(1)) < 24 and int(m.group(2)) < 60


def _zone(zone: str | None, span: A.Span) -> Iterator[Diagnostic]:
    if zone is not None and not zone_ok(zone):
        yield error("E0314", f"unknown time zone {quote(zone)}", span,
                    did_you_mean(zone, zones()) or 'write an IANA name, such as "Asia/Tokyo" or '
                    '"Europe/London"')


def _time(text: str, span: A.Span) -> Iterator[Diagnostic]:
    if not time_ok(text):
        yield error("E0313", f"`{text}` is not a time of day", span,
                    "write times as HH:MM, from 00:00 to 23:59")


def _duration(d: A.Duration, span: A.Span) -> Iterator[Diagnostic]:
    if d.unit not in schema.UNITS:
        yield error("E0310", f"unknown unit of time `{d.unit}`", span,
                    did_you_mean(d.unit.lower(), UNIT_WORDS)
                    or "units are: " + ", ".join(f"{u}s" for u in schema.UNITS))
    elif d.amount <= 0:
        yield error("E0311", f"`{d.amount} {d.unit}s` is no time at all", span,
                    "a duration must be at least 1")


def _schedule(s: A.Schedule) -> Iterator[Diagnostic]:
    head = len("schedule every ")
    zone_at = head
    if s.kind == "every":
        col = head
        for day in s.days:
            if day.lower() not in DAY_WORDS:
                yield error("E0312", f"unknown day `{day}`", word_span(s.span, col, day),
                            did_you_mean(day.lower(), DAY_WORDS)
                            or "days are: day, weekday, weekend, monday ... sunday")
            col += len(day) + 2
        zone_at = head + len(", ".join(s.days)) + 1
        col = head + len(", ".join(s.days)) + len(" at ")
        for t in s.times:
            yield from _time(t, word_span(s.span, col, t))
            col += len(t) + 2
        if s.times:
            zone_at += len(" at ") + len(", ".join(s.times))
    elif s.kind == "interval" and s.interval is not None:
        text = f"{s.interval.amount} {s.interval.unit}"
        yield from _duration(s.interval, word_span(s.span, head, text))
        zone_at = head + len(text) + 1
    elif s.kind == "cron" and s.cron is not None:
        problem = cron_problem(s.cron)
        text = quote(s.cron)
        if problem is not None:
            yield error("E0315", f"the cron schedule {text} is not valid: {problem}",
                        word_span(s.span, len("schedule cron "), text),
                        'five fields: minute hour day month weekday, such as "30 9 * * 1-5"')
        zone_at = len("schedule cron ") + len(text) + 1
    if s.zone is not None:
        yield from _zone(s.zone, word_span(s.span, zone_at, quote(s.zone)))


def _flow_schedule(flow: A.Flow) -> Iterator[Diagnostic]:
    schedules: list[A.Schedule] = flow.settings(A.Schedule)
    if flow.settings(A.EnterWhen) and not schedules:
        yield error("E0316", f"flow `{flow.name}` lets leads in by a condition but has no "
                    "schedule, so it never checks who meets it",
                    word_span(flow.span, len("flow "), flow.name),
                    "add a line such as `schedule every weekday at 09:00`")
    for extra in schedules[1:]:
        yield error("E0317", f"flow `{flow.name}` has more than one schedule",
                    word_span(extra.span, 0, "schedule"),
                    "keep one `schedule` line; list several days or times in it, such as "
                    "`schedule every monday, thursday at 09:00, 15:00`",
                    f"the first schedule is on line {schedules[0].span.line}")


def _hours(h: A.SendHours) -> Iterator[Diagnostic]:
    start = word_span(h.span, len("send between "), h.start)
    end = word_span(h.span, len(f"send between {h.start} and "), h.end)
    yield from _time(h.start, start)
    yield from _time(h.end, end)
    if time_ok(h.start) and time_ok(h.end):
        a, b = (tuple(int(p) for p in t.split(":")) for t in (h.start, h.end))
        if a >= b:
            yield error("E0318", f"the sending window {h.start} to {h.end} ends before it "
                        "starts", end, "the end must be later the same day, such as "
                        "`send between 09:00 and 18:00`")
    days = " ".join(h.days).lower()
    if days and days not in schema.SEND_DAYS:
        text = " ".join(h.days)
        yield error("E0319", f"unknown sending days `{text}`",
                    word_span(h.span, len(f"send between {h.start} and {h.end} on "), text),
                    did_you_mean(days, schema.SEND_DAYS)
                    or "write one of: " + ", ".join(schema.SEND_DAYS))
    if h.default_zone is not None:
        skip = len(f"send between {h.start} and {h.end}")
        if h.days:
            skip += len(" on ") + len(" ".join(h.days))
        if h.lead_zone:
            skip += len(" in lead time zone")
        skip += len(', default ')
        yield from _zone(h.default_zone, word_span(h.span, skip, quote(h.default_zone)))


def _cap(c: A.CapRule) -> Iterator[Diagnostic]:
    if c.noun.lower() not in ("email", "emails"):
        yield error("E0320", f"the policy caps emails, not `{c.noun}`",
                    word_span(c.span, len(f"at most {c.count} "), c.noun),
                    f"write `at most {c.count} emails per lead per ...`")
    if c.count <= 0:
        yield error("E0322", "`at most 0 emails` would never let any email out",
                    word_span(c.span, len("at most "), str(c.count)),
                    "to stop all email, remove the flows instead; a cap must be at least 1")


CHECKED = (A.Duration, A.SendHours, A.CapRule, A.SplitBranch, A.Repeat, A.Handoff)


def _node(node: object) -> Iterator[Diagnostic]:
    if isinstance(node, A.Duration):
        yield from _duration(node, node.span)
    elif isinstance(node, A.SendHours):
        yield from _hours(node)
    elif isinstance(node, A.CapRule):
        yield from _cap(node)
    elif isinstance(node, A.SplitBranch) and node.percent <= 0:
        pct = f"{node.percent:g}%"
        yield error("E0321", f"branch `{node.name}` gets {pct} of the leads",
                    word_span(node.span, len(node.name) + 1, pct),
                    "give it a share above 0%, or remove the branch")
    elif isinstance(node, A.Repeat) and node.max_times is not None and node.max_times <= 0:
        yield error("E0322", "`at most 0 times` would never repeat", first_line(node.span),
                    "remove the repeat, or allow at least 1 time")
    elif isinstance(node, A.Handoff) and node.per_day is not None and node.per_day <= 0:
        skip = len(f"handoff to {node.team}, at most ")
        if node.priority is not None:
            skip += len(f" by {node.priority} priority")
        yield error("E0322", "`at most 0 per day` would never hand anyone off",
                    word_span(node.span, skip, str(node.per_day)),
                    "a daily capacity must be at least 1")


def check_values(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    done: set[int] = set()
    for node, _flow, _file in per_folder(modules, "index", index).of(A.Flow, A.Schedule,
                                                                      *CHECKED):
        if isinstance(node, A.Flow):
            out.extend(_flow_schedule(node))
        elif isinstance(node, A.Schedule):
            out.extend(_schedule(node))  # its interval is checked there, with its span
            done.add(id(node.interval))
        elif id(node) not in done and isinstance(node, CHECKED):
            out.extend(_node(node))
    return tidy(out)

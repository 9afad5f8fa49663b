"""A small validator for five-field cron strings (``"30 9 * * 1-5"``), in a marketer's words.

Fields: minute, hour, day of month, month (1-12 or jan-dec), day of week (0-7 or sun-sat,
0 and 7 both Sunday). Each is a comma list of ``*``, ``N``, ``A-B``, each optionally ``/STEP``.
"""

from __future__ import annotations

from dataclasses import dataclass

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True, slots=True)
class Field:
    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for name_base + i
    name_base: int = 0


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of month", 1, 31),
    Field("month", 1, 12, MONTHS, 1),
    Field("day of week", 0, 7, DAYS, 0),
)


def _value(text: str, f: Field) -> int | str:
    """The number a value stands for, or why it is wrong."""
    low = text.lower()
    if not low:
        return f"the {f.label} field has an empty part"
    if low in f.names:
        return f.names.index(low) + f.name_base
    if not text.isdigit():
        names = f", or {f.names[0]}-{f.names[-1]}" if f.names else ""
        return f"`{text}` is not a number{names}"
    n = int(text)
    if not f.low <= n <= f.high:
        return f"{f.label} `{text}` is out of range ({f.low}-{f.high})"
    return n


def _item(item: str, f: Field) -> str | None:
    body, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or int(step) == 0:
            return f"the step `/{step}` in the {f.label} field must be a number above 0"
    if body == "*":
        return None
    if body == "":
        return f"the {f.label} field has an empty part"
    start, dash, end = body.partition("-")
    a = _value(start, f)
    if isinstance(a, str):
        return a
    if dash:
        b = _value(end, f)
        if isinstance(b, str):
            return b
        if a > b:
            return f"the range `{body}` in the {f.label} field runs backwards"
    return None


def cron_problem(expr: str) -> str | None:
    """``None`` when ``expr`` is a valid five-field cron string, else what is wrong, in words."""
    parts = expr.split()
    if len(parts) != len(FIELDS):
        return f"it has {len(parts)} fields, not 5"
    for text, f in zip(parts, FIELDS, strict=True):
        for item in text.split(","):
            problem = _item(item, f)
            if problem is not None:
                return problem
    return None

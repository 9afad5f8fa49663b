"""Turning one cell of a spreadsheet into a value: pure functions, no I/O.

Every function takes the raw text of a cell and returns the stored value, ``None`` for a blank
cell, or raises :class:`Invalid` with a reason a marketer can act on. All of them start from
:func:`clean`, so ``"１，２００名"``, ``" 1200 "`` and ``"1,200"`` all become ``1200``, and
normalising a stored value again changes nothing (a property test holds every function to that).

What is accepted (docs/import.md repeats this for users):

- text: NFKC (full-width letters and digits to half-width), line breaks (CR, LF, U+2028,
  U+2029, U+0085) and other control characters replaced by one space, runs of spaces collapsed,
  trimmed. Attribute values are single-line: a header line built from one can never be split.
- email: as text, then lower-case; ``local@domain.tld`` with no spaces, at most 254 characters.
- numbers: ``1200``, ``1,200``, ``１，２００名``, ``約300人``, ``1.2万``, ``300名程度``. A range
  (``300-500``, ``300〜500``) or a bound (``1000名以上``, ``100未満``) is rejected: map such
  values explicitly (``[values.employees]`` in the mapping file).
- dates: ``2025-04-01``, ``2025/4/1``, ``2025.04.01``, ``20250401``, ``2025年4月1日``, each with an
  optional time (``10:30``, ``10:30:15``, ISO ``T`` and offset ``+09:00`` / ``Z``).
- booleans: true/false, yes/no, y/n, 1/0, on/off, はい/いいえ, 同意/同意しない, 有/無, 可/不可, ○/×.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, tzinfo
from decimal import Decimal

from engine.store.emails import normalise_email


class Invalid(ValueError):
    """A cell that cannot be stored; ``str(exc)`` is the reason shown in the report."""


_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


def clean(raw: str) -> str:
    """NFKC, control characters and line breaks to spaces, spaces collapsed, trimmed."""
    text = unicodedata.normalize("NFKC", raw)
    text = _BREAKS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def text(raw: str) -> str | None:
    value = clean(raw)
    return value or None


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def email(raw: str) -> str | None:
    """``"　Ａ@Example.COM "`` -> ``"a@example.com"`` (the store's rule: engine.store.emails)."""
    value = clean(raw)
    if not value:
        return None
    value = normalise_email(value)
    if len(value) > 254:
        raise Invalid("an email address has at most 254 characters")
    if " " in value:
        raise Invalid("an email address has no spaces")
    if not _EMAIL.fullmatch(value) or ".." in value or value.startswith(".") or "@." in value:
        raise Invalid("not an email address (expected name@company.example)")
    return value


# ------------------------------------------------------------------ numbers

_APPROX = ("約", "およそ", "概ね", "ca.", "approx.", "approx", "~")
_UNITS = ("名程度", "人程度", "名", "人", "程度", "people", "persons", "employees")
_RANGE = re.compile(r"\d\s*(?:-|〜|~|から|to)\s*\d")
_BOUND = ("以上", "以下", "未満", "超", "+", "以内", "<", ">")
_NUMBER = re.compile(r"(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(万)?")


def _strip_affixes(value: str) -> str:
    lowered = value.lower()
    for prefix in _APPROX:
        if lowered.startswith(prefix):
            value = value[len(prefix):].strip()
            break
    lowered = value.lower()
    for unit in _UNITS:
        if lowered.endswith(unit):
            value = value[: -len(unit)].strip()
            break
    return value


def number(raw: str) -> int | float | None:
    """A count or amount: an ``int`` when whole, else a ``float``."""
    value = clean(raw)
    if not value:
        return None
    if _RANGE.search(value):
        raise Invalid("a range, not one number: write one value (or map it in [values])")
    if any(value.endswith(b) or value.startswith(b) for b in _BOUND):
        raise Invalid("a bound (以上 / 未満 / +), not one number: map it in [values]")
    body = _strip_affixes(value)
    m = _NUMBER.fullmatch(body)
    if m is None:
        raise Invalid("not a number (accepted: 1200, 1,200, 1,200名, 約300人, 1.2万)")
    sign, digits, frac, man = m.groups()
    exact = Decimal(digits.replace(",", "") + (f".{frac}" if frac else ""))
    if man:
        exact *= 10_000
    if sign:
        exact = -exact
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def count(raw: str) -> int | None:
    """A whole, non-negative number (employees)."""
    value = number(raw)
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise Invalid("not a whole number")
        value = int(value)
    if value < 0:
        raise Invalid("a count cannot be negative")
    if value > 2_000_000_000:
        raise Invalid("too large for a count")
    return value


# ------------------------------------------------------------------ dates and times

_DATE = re.compile(
    r"(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?|(\d{2})(\d{2}))"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?")


def _parts(value: str) -> tuple[date, time | None, str | None]:
    m = _DATE.fullmatch(value)
    if m is None:
        raise Invalid("not a date (accepted: 2025-04-01, 2025/4/1, 2025年4月1日, 20250401, "
                      "optionally with a time 10:30)")
    y, m1, d1, m2, d2, m3, d3, hh, mm, ss, frac, offset = m.groups()
    month, day = (m1, d1) if m1 else (m2, d2) if m2 else (m3, d3)
    try:
        day_ = date(int(y), int(month), int(day))
        at = (time(int(hh), int(mm), int(ss or 0), int((frac or "0").ljust(6, "0")))
              if hh is not None else None)
    except ValueError as exc:
        raise Invalid(f"no such date or time ({exc})") from None
    return day_, at, offset


def day(raw: str) -> date | None:
    """A calendar date (a custom ``date`` attribute); a time part is ignored only when 00:00."""
    value = clean(raw)
    if not value:
        return None
    d, at, _ = _parts(value)
    if at is not None and at != time(0, 0):
        raise Invalid("a date is expected here, not a date and time")
    return d


def instant(raw: str, zone: tzinfo) -> datetime | None:
    """A point in time; without an offset it is read in ``zone`` (the import's time zone)."""
    value = clean(raw)
    if not value:
        return None
    d, at, offset = _parts(value)
    if offset is None:
        tz: tzinfo = zone
    else:
        stamp = datetime.fromisoformat(f"2000-01-01T00:00:00{_iso_offset(offset)}")
        assert stamp.tzinfo is not None
        tz = stamp.tzinfo
    return datetime.combine(d, at or time(0, 0), tzinfo=tz)


def _iso_offset(offset: str) -> str:
    if offset == "Z":
        return "+00:00"
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"


# ------------------------------------------------------------------ booleans

TRUE = frozenset({"true", "yes", "y", "1", "on", "t", "はい", "同意", "同意する", "同意済",
                  "同意済み", "有", "あり", "可", "○", "◯", "許可", "希望", "希望する"})
FALSE = frozenset({"false", "no", "n", "0", "off", "f", "いいえ", "同意しない", "未同意", "拒否",
                   "無", "なし", "不可", "×", "✕", "希望しない", "不要"})


def boolean(raw: str) -> bool | None:
    value = clean(raw).lower()
    if not value:
        return None
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise Invalid("not yes or no (accepted: true/false, yes/no, 1/0, はい/いいえ, 同意/同意しない)")

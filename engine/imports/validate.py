"""From a row of cells to typed values, collecting every problem of the row (not just the first).

A row is valid when every mapped cell normalises (engine.imports.normalize), a ``one of (...)``
attribute holds one of its values (compared ignoring case; the declared spelling is stored), the
row has as many cells as the header, and the required columns are filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.imports import normalize as N
from engine.imports.columns import FULL_NAME, UPDATED_AT, Mapping
from engine.imports.config import NOT_IMPORTABLE, Config, Field


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a row is rejected; ``column`` is the header as the file spells it."""

    row: int
    column: str
    value: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Columns:
    """The header of a file and, per cell index, the target it feeds."""

    headers: list[str]
    targets: dict[int, str]


def _zone(raw: str) -> str | None:
    value = N.clean(raw)
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise N.Invalid("not an IANA time zone (e.g. Asia/Tokyo, America/New_York)") from None
    return value


def convert(f: Field, raw: str, zone: tzinfo) -> Any:
    """One cell as the value to store for field ``f``."""
    if f.name == "email":
        return N.email(raw)
    if f.name == "employees":
        return N.count(raw)
    if f.name == "time_zone":
        return _zone(raw)
    if f.name == "created_at":
        return N.instant(raw, zone)
    if f.type == "number":
        return N.number(raw)
    if f.type == "boolean":
        return N.boolean(raw)
    if f.type == "date":
        day = N.day(raw)
        return day.isoformat() if isinstance(day, date) and f.custom else day
    value = N.text(raw)
    if value is not None and f.choices is not None:
        found = f.choices.get(value.lower())
        if found is None:
            shown = ", ".join(f.choices.values())
            raise N.Invalid(f"not one of the values the flows declare for {f.name} ({shown}); "
                            f"map it in [values.{f.name}]")
        value = found
    return value


def _mapped(mapping: Mapping, target: str, raw: str) -> str:
    table = mapping.values.get(target)
    if not table:
        return raw
    return table.get(N.clean(raw), raw)


def _shape(number: int, columns: Columns, cells: list[str]) -> list[Problem]:
    if len(cells) == len(columns.headers):
        return []
    what = "more" if len(cells) > len(columns.headers) else "fewer"
    return [Problem(number, "", ",".join(cells)[:200],
                    f"{len(cells)} cells, {what} than the {len(columns.headers)} columns of the "
                    "header (a comma inside an unquoted value?)")]


def is_blank(cells: list[str]) -> bool:
    return all(not c.strip() for c in cells)


@dataclass
class LeadRow:
    number: int
    email: str
    values: dict[str, Any]  # field -> value (None: blank); only the columns the file has
    updated_at: datetime | None


def lead_row(number: int, cells: list[str], columns: Columns, config: Config, mapping: Mapping,
             zone: tzinfo) -> LeadRow | list[Problem]:
    problems = _shape(number, columns, cells)
    if problems:
        return problems
    values: dict[str, Any] = {}
    updated_at: datetime | None = None
    full_name: str | None = None
    for i, target in columns.targets.items():
        raw = _mapped(mapping, target, cells[i])
        try:
            if target == UPDATED_AT:
                updated_at = N.instant(raw, zone)
            elif target == FULL_NAME:
                full_name = N.text(raw)
            else:
                values[target] = convert(config.fields[target], raw, zone)
        except N.Invalid as exc:
            problems.append(Problem(number, columns.headers[i], cells[i], str(exc)))
    if full_name is not None or FULL_NAME in columns.targets.values():
        last, _, first = (full_name or "").partition(" ")
        values.setdefault("last_name", last or None)
        values.setdefault("first_name", first or None)
    email = values.pop("email", None)
    if email is None and "email" not in {columns.targets.get(columns.headers.index(p.column))
                                         for p in problems if p.column}:
        problems.append(Problem(number, _header_of(columns, "email"), "", "an email is required"))
    if problems:
        return problems
    assert isinstance(email, str)
    return LeadRow(number, email, values, updated_at)


def _header_of(columns: Columns, target: str) -> str:
    for i, t in columns.targets.items():
        if t == target:
            return columns.headers[i]
    return target


EVENT_COLUMNS = ("email", "type", "occurred_at")


@dataclass
class EventRow:
    number: int
    email: str
    type: str
    occurred_at: datetime
    properties: dict[str, str | None]


def event_row(number: int, cells: list[str], columns: Columns, config: Config, mapping: Mapping,
              zone: tzinfo, now: datetime) -> EventRow | list[Problem]:
    problems = _shape(number, columns, cells)
    if problems:
        return problems
    got: dict[str, Any] = {}
    for i, target in columns.targets.items():
        raw = _mapped(mapping, target, cells[i])
        try:
            if target == "email":
                got[target] = N.email(raw)
            elif target == "occurred_at":
                at = N.instant(raw, zone)
                if at is not None and (at - now).total_seconds() > 86_400:
                    raise N.Invalid("in the future")
                got[target] = at
            elif target == "type":
                got[target] = _kind(config, raw)
            else:
                got[target] = N.text(raw)
        except N.Invalid as exc:
            problems.append(Problem(number, columns.headers[i], cells[i], str(exc)))
    bad = {p.column for p in problems}
    for required in EVENT_COLUMNS:
        header = _header_of(columns, required)
        if got.get(required) is None and header not in bad:
            problems.append(Problem(number, header, "", f"{required} is required"))
    if problems:
        return problems
    props = {k: v for k, v in got.items() if k not in EVENT_COLUMNS}
    return EventRow(number, got["email"], got["type"], got["occurred_at"], props)


def _kind(config: Config, raw: str) -> str | None:
    value = N.clean(raw)
    if not value:
        return None
    kind = config.kind(value)
    if kind is None:
        raise N.Invalid("not an event kind (page view, download, form submit, seminar, "
                        "exhibition, email open, email click, email sent, or one declared in "
                        "the flows' events:)")
    if kind in NOT_IMPORTABLE:
        raise N.Invalid(NOT_IMPORTABLE[kind])
    return kind

"""What a template can see: the only names, and how each is made from plain data (invariant I9).

    {{ greeting }}                  "山田 様" / "ご担当者様"; "Hello Taro," / "Hello,"
    {{ lead.company }}              any core or declared attribute; unknown values are empty
    {{ owner.name }} {{ owner.email }}        the lead's sales rep (empty when there is none)
    {{ sender.name }} {{ sender.address }}    who this message is from; sender.is_owner
    {{ org.name }} {{ org.postal_address }} {{ org.contact }} {{ org.address }}
    {{ flow }} {{ step }}           the flow and step that sent it
    {{ site_url }}                  the company's site, no trailing slash: {{ site_url }}/pricing
    {{ scores.interest }}           scores, when the caller supplies them (alerts)
    {{ unsubscribe_url }}           marketing mail only
    {{ lead_url }}                  internal alerts only: the lead in the CRM, when configured
    {{ format_date(lead.renewal_date) }}  {{ format_number(lead.employees) }}

Nothing else: no settings object, no environment, no database handle. Values are wrapped in
:class:`Record`, which offers attribute access to its data and nothing more (a dict would also
offer ``items``, ``get``... and shadow attributes with those names). ``engine check`` uses the
same tables (:data:`MARKETING_NAMES`, :data:`RECORD_FIELDS`) to report unknown names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

LANGUAGES = ("ja", "en")

MARKETING_NAMES = frozenset({"lead", "owner", "sender", "org", "flow", "step", "greeting",
                             "scores", "unsubscribe_url", "format_date", "format_number",
                             "site_url"})
INTERNAL_NAMES = (MARKETING_NAMES - {"unsubscribe_url"}) | {"lead_url"}
# Names Jinja itself provides that a template may use.
JINJA_NAMES = frozenset({"range", "dict", "loop", "super", "self", "caller", "varargs",
                         "kwargs", "true", "false", "none", "True", "False", "None"})
RECORD_FIELDS: dict[str, frozenset[str]] = {
    "owner": frozenset({"name", "email"}),
    "sender": frozenset({"name", "address", "is_owner"}),
    "org": frozenset({"name", "address", "postal_address", "contact"}),
}
# Columns of a lead row that are not attributes a template may print.
_HIDDEN = frozenset({"id", "custom", "provenance", "updated_at", "scores"})
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class Record:
    """Read-only attributes over a dict, for templates: ``lead.company``, ``lead["company"]``.
    A missing name is undefined (renders empty), never an error."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", {k: v for k, v in values.items() if v is not None})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        """For Python callers (the sandbox reads records through it); templates cannot call
        it: ``lead.get`` is the attribute ``get`` of the lead, which is undefined."""
        return self._values.get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("read-only")

    def __repr__(self) -> str:
        return f"Record({self._values!r})"


def is_address(value: object) -> bool:
    """A plain ASCII address we can put in a header and an envelope as it is."""
    return isinstance(value, str) and len(value) <= 254 and _ADDRESS.fullmatch(value) is not None


def language_of(lead: Mapping[str, Any]) -> str:
    lang = str(lead.get("language") or "").strip().lower()[:2]
    return lang if lang in LANGUAGES else "ja"


def lead_values(lead: Mapping[str, Any]) -> dict[str, Any]:
    """Core columns and custom attributes, flat (a custom value never hides a core one)."""
    custom = lead.get("custom") or {}
    values = {k: v for k, v in custom.items() if isinstance(k, str)} \
        if isinstance(custom, Mapping) else {}
    values.update((k, v) for k, v in lead.items() if k not in _HIDDEN)
    return values


def greeting(lead: Mapping[str, Any], lang: str) -> str:
    """The salutation, with the fallback every template needs for a lead without a name."""
    first = str(lead.get("first_name") or "").strip()
    last = str(lead.get("last_name") or "").strip()
    if lang == "ja":
        name = last or first
        return f"{name} 様" if name else "ご担当者様"
    name = first or last
    return f"Hello {name}," if name else "Hello,"


def owner_values(lead: Mapping[str, Any], owners: Mapping[str, str]) -> dict[str, Any]:
    address = lead.get("owner")
    if not is_address(address):
        return {}
    assert isinstance(address, str)
    return {"email": address, "name": owners.get(address.lower()) or address.split("@")[0]}


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def helpers(lang: str) -> dict[str, Callable[..., str]]:
    """The functions a template may call, bound to a language once."""

    def format_date(value: Any = None) -> str:
        day = _as_date(value)
        if day is None:
            return "" if value is None else str(value)
        if lang == "ja":
            return f"{day.year}年{day.month}月{day.day}日"
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"

    def format_number(value: Any = None) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "" if value is None else str(value)
        return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"

    return {"format_date": format_date, "format_number": format_number}

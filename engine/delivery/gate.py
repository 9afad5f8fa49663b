"""The policy gate between the outbox and the wire: may this claimed row go out now?

A gate is any callable ``gate(conn, rows, now) -> {row_id: Verdict}`` over the claimed marketing
rows (action ``send``; notifications go to colleagues, not leads, and skip it); rows it leaves
out of the mapping are allowed. Rows are dicts that also read as attributes (``row["id"]`` and
``row.id``). The runtime supplies the full gate (per-lead caps, quiet hours, never-email rules);
:func:`default_gate` checks what every send needs: no suppression, and consent. Whatever the
gate, the worker itself checks suppressions at claim and again just before DATA (invariant I7),
so a custom gate cannot forget them.

A verdict is this module's :class:`Verdict`, or any object with ``status`` ("pending" to allow,
"deferred" with ``until``, or a terminal status such as "suppressed") and ``reason``, as the
runtime's gate returns (:func:`as_verdict`).

    def quiet_hours(conn, rows, now):
        return {r["id"]: defer(next_morning(r), "quiet hours") for r in rows if at_night(r, now)}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from engine.store.emails import email_hash
from engine.store.schema import leads, suppressions

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Literal["allow", "defer", "block"]
    until: datetime | None = None  # defer: when to try again
    reason: str | None = None
    status: str = "suppressed"  # block: the terminal status to record


ALLOW = Verdict("allow")


def defer(until: datetime, reason: str) -> Verdict:
    """Not now: try again at ``until`` (quiet hours, a cap reached). Not a failed attempt."""
    return Verdict("defer", until=until, reason=reason)


def block(reason: str, status: str = "suppressed") -> Verdict:
    """Never: record ``status`` (suppressed by default) with the reason."""
    return Verdict("block", reason=reason, status=status)


Gate = Callable[[sa.Connection, Sequence[Any], datetime], Mapping[int, Any]]


class RowView(dict[str, Any]):
    """An outbox row as a dict whose keys also read as attributes (``row.lead_id``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def as_verdict(value: Any) -> Verdict:
    """This module's Verdict from any gate's answer (see the module docstring)."""
    if isinstance(value, Verdict):
        return value
    status = getattr(value, "status", None)
    reason = getattr(value, "reason", None)
    if status in (None, "pending", "allow"):
        return ALLOW
    if status in ("deferred", "defer"):
        until = getattr(value, "until", None)
        if not isinstance(until, datetime):
            raise TypeError(f"a deferring verdict without a time: {value!r}")
        return defer(until, reason or "deferred by the policy gate")
    return block(reason or f"{status} by the policy gate", str(status))


def email_recipient(row: Row, lead: Mapping[str, Any] | None) -> str | None:
    """The address an email row will go to, as far as the ledger knows before building it:
    the lead for marketing mail, ``payload["to"]`` for an email notification; None for a
    webhook notification."""
    payload = row.get("payload") or {}
    if row["action"] == "notify":
        return str(payload["to"]) if payload.get("channel") == "email" and payload.get("to") \
            else None
    return None if lead is None else str(lead["email"])


_SUPPRESSED = (sa.select(suppressions.c.email_hash).distinct()
               .where(suppressions.c.email_hash.in_(sa.bindparam("hashes", expanding=True))))
_LEADS = sa.select(leads).where(leads.c.id.in_(sa.bindparam("ids", expanding=True)))


def suppressed_hashes(conn: sa.Connection, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses' hashes are suppressed (any reason, any scope)."""
    hashes = {email_hash(a) for a in addresses}
    if not hashes:
        return set()
    found: set[str] = set()
    ordered = sorted(hashes)
    for start in range(0, len(ordered), 500):
        found.update(conn.execute(_SUPPRESSED, {"hashes": ordered[start:start + 500]})
                     .scalars())
    return found


def suppression_reason(conn: sa.Connection, address: str) -> str | None:
    """The reasons an address is suppressed, e.g. "unsubscribe", or None."""
    reasons = conn.execute(sa.select(suppressions.c.reason)
                           .where(suppressions.c.email_hash == email_hash(address))
                           .order_by(suppressions.c.reason)).scalars().all()
    return ", ".join(dict.fromkeys(reasons)) if reasons else None


def load_leads(conn: sa.Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The leads of these ids, each as a dict of its columns."""
    wanted = sorted(set(ids))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        result = conn.execute(_LEADS, {"ids": wanted[start:start + 500]})
        keys = list(result.keys())  # once per query: a row's own mapping costs more
        for row in result:
            lead = dict(zip(keys, row, strict=True))
            found[int(lead["id"])] = lead
    return found


def default_gate(conn: sa.Connection, rows: Sequence[Row], now: datetime) -> dict[int, Verdict]:
    """Suppressions for every email, and consent (``leads.consent`` true) for marketing sends."""
    people = load_leads(conn, (r["lead_id"] for r in rows))
    addresses = {r["id"]: email_recipient(r, people.get(r["lead_id"])) for r in rows}
    blocked = suppressed_hashes(conn, (a for a in addresses.values() if a))
    verdicts: dict[int, Verdict] = {}
    for row in rows:
        address = addresses[row["id"]]
        if address and email_hash(address) in blocked:
            verdicts[row["id"]] = block("suppressed address")
    verdicts.update(consent_verdicts((r for r in rows if r["id"] not in verdicts), people))
    return verdicts


def consent_verdicts(rows: Iterable[Row], people: Mapping[int, Mapping[str, Any]]
                     ) -> dict[int, Verdict]:
    """The consent half of :func:`default_gate`, on leads already loaded (the worker checks
    suppressions itself at claim, in the same transaction, so with the default gate it needs
    only this)."""
    refused = block("no consent for marketing mail (leads.consent is not true)")
    return {row["id"]: refused for row in rows if row["action"] == "send"
            and people.get(row["lead_id"], {}).get("consent") is not True}

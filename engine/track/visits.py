"""Page views from the JS tag, and identity stitching: jobs for the writer.

A browser is a *visitor* (the tag's random first-party id). It becomes a known lead when it
brings a valid visitor token (set by a click's landing URL) or submits a form. Then:

- ``identities`` maps the visitor to the lead (the newest identification wins: a shared
  computer that clicks another lead's mail moves to that lead from then on);
- the visitor's page views held in ``anonymous_views`` move to ``events`` as the lead's
  ``page_view`` events, with their original times, and leave the holding table.

Views of an unidentified visitor are held (at most ``held_views_per_visitor``; older ones than
``held_view_days`` are pruned). Each view has the tag's random view id: its ``events.dedupe_key``
is ``view:<visitor>:<view>``, so a beacon sent twice is stored once, and the later "time on page"
beacon finds its view to update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.store.schema import anonymous_views, events, identities, leads
from engine.track.landing import page_path
from engine.track.settings import Limits
from engine.track.sql import event, insert_ignore

SOURCE = "tracking"
TOUCH_EVERY = timedelta(hours=1)  # identities.last_seen_at is refreshed at most this often


@dataclass(frozen=True, slots=True)
class Beacon:
    """One validated beacon (engine.track.collect parses and checks it)."""

    kind: str  # "view" (the page was shown) or "time" (it was hidden: seconds on the page)
    visitor: str
    view: str
    url: str  # the page, without the visitor token
    title: str | None = None
    referrer: str | None = None
    seconds: int | None = None

    @property
    def key(self) -> str:
        return f"view:{self.visitor}:{self.view}"

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"page": self.url, "visitor": self.visitor}
        if self.title:
            props["title"] = self.title
        if self.referrer:
            props["referrer"] = self.referrer
        if self.seconds is not None:
            props["seconds"] = self.seconds
        return props


# Hot-path statements are built once (building a statement costs more than running it here).
_LEAD = sa.select(leads.c.id).where(leads.c.id == sa.bindparam("lead_id"))
_IDENTITY = sa.select(identities.c.id, identities.c.lead_id, identities.c.last_seen_at).where(
    identities.c.visitor_id == sa.bindparam("visitor"))
_EVENT_BY_KEY = sa.select(events.c.id, events.c.properties).where(
    events.c.dedupe_key == sa.bindparam("key"))
_HELD_VIEW = sa.select(anonymous_views.c.id, anonymous_views.c.properties).where(
    anonymous_views.c.visitor_id == sa.bindparam("visitor"),
    anonymous_views.c.view_id == sa.bindparam("view"))
_HELD_COUNT = sa.select(sa.func.count()).select_from(anonymous_views).where(
    anonymous_views.c.visitor_id == sa.bindparam("visitor"))
_HELD_OF = sa.select(anonymous_views).where(
    anonymous_views.c.visitor_id == sa.bindparam("visitor")).order_by(
    anonymous_views.c.occurred_at.desc()).limit(sa.bindparam("cap"))


def lead_of(conn: sa.Connection, visitor: str, token_lead: int | None) -> int | None:
    """The lead the visitor's views belong to: the token's (if that lead still exists), else
    the one an earlier identification recorded, else None (anonymous)."""
    if token_lead is not None:
        found = conn.execute(_LEAD, {"lead_id": token_lead}).scalar()
        if found is not None:
            return int(found)
    row = conn.execute(_IDENTITY, {"visitor": visitor}).first()
    return None if row is None else int(row.lead_id)


def record_beacon(conn: sa.Connection, beacon: Beacon, token_lead: int | None, now: datetime,
                  limits: Limits) -> str:
    """Store a beacon; returns ``"lead"`` (an event of a known lead) or ``"held"``."""
    lead = lead_of(conn, beacon.visitor, token_lead)
    if lead is not None and lead == token_lead:
        identify(conn, beacon.visitor, lead, now, limits)
    if lead is not None:
        _lead_view(conn, beacon, lead, now)
        return "lead"
    _held_view(conn, beacon, now, limits)
    return "held"


def _lead_view(conn: sa.Connection, beacon: Beacon, lead: int, now: datetime) -> None:
    if beacon.kind == "time":
        row = conn.execute(_EVENT_BY_KEY, {"key": beacon.key}).first()
        if row is not None:
            conn.execute(events.update().where(events.c.id == row.id).values(
                properties=_with_seconds(row.properties, beacon.seconds)))
            return
    conn.execute(insert_ignore(conn, events), event(
        lead_id=lead, type="page_view", occurred_at=now, url=page_path(beacon.url),
        source=SOURCE, dedupe_key=beacon.key, properties=beacon.properties()))


def _held_view(conn: sa.Connection, beacon: Beacon, now: datetime, limits: Limits) -> None:
    if beacon.kind == "time":
        row = conn.execute(_HELD_VIEW, {"visitor": beacon.visitor, "view": beacon.view}).first()
        if row is not None:
            conn.execute(anonymous_views.update().where(anonymous_views.c.id == row.id).values(
                properties=_with_seconds(row.properties, beacon.seconds)))
            return
    held = conn.execute(_HELD_COUNT, {"visitor": beacon.visitor}).scalar_one()
    if held >= limits.held_views_per_visitor:
        return
    conn.execute(insert_ignore(conn, anonymous_views).values(
        visitor_id=beacon.visitor, view_id=beacon.view, occurred_at=now,
        url=page_path(beacon.url), properties=beacon.properties()))


def _with_seconds(properties: object, seconds: int | None) -> dict[str, Any]:
    props = dict(properties) if isinstance(properties, dict) else {}
    old = props.get("seconds")
    if seconds is not None and (not isinstance(old, int) or seconds > old):
        props["seconds"] = seconds
    return props


def identify(conn: sa.Connection, visitor: str, lead: int, now: datetime,
             limits: Limits) -> int:
    """Tie ``visitor`` to ``lead`` and move its held views to the lead; returns how many."""
    row = conn.execute(_IDENTITY, {"visitor": visitor}).first()
    if row is None:
        conn.execute(insert_ignore(conn, identities).values(
            visitor_id=visitor, lead_id=lead, first_seen_at=now, last_seen_at=now))
    elif row.lead_id != lead or now - row.last_seen_at >= TOUCH_EVERY:
        conn.execute(identities.update().where(identities.c.id == row.id).values(
            lead_id=lead, last_seen_at=now))
    return merge_held(conn, visitor, lead, limits)


def merge_held(conn: sa.Connection, visitor: str, lead: int, limits: Limits) -> int:
    rows = conn.execute(_HELD_OF, {"visitor": visitor,
                                   "cap": limits.held_views_per_visitor}).all()
    if not rows:
        return 0
    conn.execute(insert_ignore(conn, events), [event(
        lead_id=lead, type="page_view", occurred_at=r.occurred_at, url=r.url, source=SOURCE,
        dedupe_key=f"view:{visitor}:{r.view_id}", properties=r.properties) for r in rows])
    conn.execute(anonymous_views.delete().where(anonymous_views.c.visitor_id == visitor))
    return len(rows)


def prune_held(conn: sa.Connection, now: datetime, limits: Limits) -> int:
    """Delete held views older than the retention period (never identified: nobody's data)."""
    cutoff = now - timedelta(days=limits.held_view_days)
    return int(conn.execute(anonymous_views.delete()
                            .where(anonymous_views.c.occurred_at < cutoff)).rowcount)

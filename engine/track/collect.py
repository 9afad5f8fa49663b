"""``POST /collect``: page-view beacons from the JS tag (engine.track.tag) on the customer's site.

Only pages of the configured site origins may report (``site_origins``): the request's Origin
header must be one of them, and so must the reported page's. CORS answers name that origin only.
The tag sends its beacon as ``text/plain`` (a "simple" request: no preflight, and sendBeacon
allows no other type); ``application/json`` is accepted too. The body is one JSON object with a
strict schema (unknown keys, wrong types or sizes: 400)::

    {"kind": "view" | "time", "visitor": ID, "view": ID, "url": "https://site/page",
     "token": VISITOR_TOKEN?, "title": "..."?, "referrer": "https://..."?, "seconds": 0..86400?}

IDs are the tag's random 22-character base64url ids. The visitor token, when valid, names the
lead; an invalid or forged one is ignored (the view is then the visitor's as before).
"""

from __future__ import annotations

import json
import logging
import re
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from engine.imports.normalize import clean
from engine.mail.tokens import MAX_TOKEN
from engine.track import visits
from engine.track.bodies import media_type, read_body
from engine.track.context import context
from engine.track.landing import (
    MAX_LINK,
    origin_of,
    safe_link,
    without_query,
    without_visitor_token,
)
from engine.track.tokens import check
from engine.track.writer import Dropped

ID = re.compile(r"[A-Za-z0-9_-]{22}")
KINDS = ("view", "time")
FIELDS = {"kind", "visitor", "view", "url", "token", "title", "referrer", "seconds"}
MAX_TITLE = 300
MAX_SECONDS = 86_400
log = logging.getLogger("engine.track")


class BadBeacon(ValueError):
    pass


def parse_beacon(body: bytes, origin: str) -> tuple[visits.Beacon, str | None]:
    """The beacon and its visitor token (unverified), or :class:`BadBeacon`."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadBeacon("not JSON") from None
    if not isinstance(doc, dict) or not set(doc) <= FIELDS:
        raise BadBeacon("not a beacon object")
    kind, visitor, view = doc.get("kind"), doc.get("visitor"), doc.get("view")
    if kind not in KINDS or not _id(visitor) or not _id(view):
        raise BadBeacon("kind, visitor and view are required")
    url = safe_link(doc.get("url"))
    if url is None or len(url) > MAX_LINK or origin_of(url) != origin:
        raise BadBeacon("url must be a page of the sending origin")
    token = doc.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN):
        raise BadBeacon("bad token")
    title = _text(doc.get("title"), MAX_TITLE, "title")
    referrer = doc.get("referrer")
    if referrer is not None:
        if not isinstance(referrer, str) or len(referrer) > MAX_LINK:
            raise BadBeacon("bad referrer")
        referrer = without_query(referrer) if safe_link(referrer) else None
    seconds = doc.get("seconds")
    if seconds is not None and (type(seconds) is not int or not 0 <= seconds <= MAX_SECONDS):
        raise BadBeacon("seconds must be a whole number from 0 to 86400")
    assert isinstance(visitor, str) and isinstance(view, str)
    beacon = visits.Beacon(kind, visitor, view, without_visitor_token(url), title, referrer,
                           seconds if kind == "time" else None)
    return beacon, token


def _id(value: Any) -> bool:
    return isinstance(value, str) and bool(ID.fullmatch(value))


def _text(value: Any, limit: int, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 4 * limit:
        raise BadBeacon(f"bad {name}")
    return clean(value)[:limit] or None


def cors(origin: str) -> dict[str, str]:
    return {"access-control-allow-origin": origin, "access-control-allow-credentials": "true",
            "vary": "Origin"}


def preflight(origin: str, allowed: bool) -> Response:
    if not allowed:
        return Response(status_code=403, headers={"vary": "Origin"})
    return Response(status_code=204, headers={
        **cors(origin), "access-control-allow-methods": "POST",
        "access-control-allow-headers": "content-type", "access-control-max-age": "86400"})


async def collect(request: Request) -> Response:
    ctx = context(request)
    origin = request.headers.get("origin", "").lower()
    allowed = origin in ctx.track.site_origins
    if request.method == "OPTIONS":
        return preflight(origin, allowed)
    if not allowed:
        return Response("origin not allowed", 403, media_type="text/plain",
                        headers={"vary": "Origin"})
    if media_type(request) not in ("text/plain", "application/json"):
        return Response("expected text/plain or application/json", 415, headers=cors(origin))
    body = await read_body(request, ctx.track.limits.collect_body)
    try:
        beacon, token = parse_beacon(body, origin)
    except BadBeacon as exc:
        return Response(str(exc), 400, media_type="text/plain", headers=cors(origin))
    data = check(ctx.secret, token, "visit") if token else None
    lead = data.lead_id if data is not None else None
    job = partial(visits.record_beacon, beacon=beacon, token_lead=lead, now=ctx.now(),
                  limits=ctx.track.limits)
    try:
        await ctx.writer.run(job, droppable=True)
    except (Dropped, SQLAlchemyError) as exc:
        log.debug("beacon dropped: %s", exc)
        return Response(status_code=503, headers=cors(origin))
    return Response(status_code=204, headers=cors(origin))

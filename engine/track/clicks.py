"""``GET /c/{token}/{i}`` (click redirect) and ``GET /o/{token}.gif`` (open pixel).

A click is recorded (committed) before the redirect; the target is link ``i`` of the message
the token names, read from the store, so no URL outside the sent message can be reached (I10).
Anything wrong (a forged, truncated or tampered token, a token for another purpose, no such
message, an index out of range, a stored link that is not http(s)) gets the same 404 page and no
redirect; query parameters are ignored entirely.

The pixel answers the same uncacheable GIF whatever happens: invalid tokens, rate limits, a full
write queue and database errors record nothing and still get the image.
"""

from __future__ import annotations

import logging
import re
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from engine.mail.tokens import sign
from engine.track import mail_events, pages
from engine.track.context import context
from engine.track.landing import ascii_url, landing_url, on_site
from engine.track.settings import fill_utm
from engine.track.tokens import check
from engine.track.writer import Dropped

INDEX = re.compile(r"[0-9]{1,4}")
log = logging.getLogger("engine.track")


def not_found() -> Response:
    return pages.message("not_found", status=404)


def unavailable() -> Response:
    return pages.message("error", status=503, headers={"retry-after": "5"})


async def click(request: Request) -> Response:
    ctx = context(request)
    index = request.path_params["index"]
    data = check(ctx.secret, request.path_params["token"], "click")
    if data is None or data.outbox_id <= 0 or not INDEX.fullmatch(index):
        return not_found()
    job = partial(mail_events.record_click, outbox_id=data.outbox_id, index=int(index),
                  method=request.method, user_agent=request.headers.get("user-agent"),
                  now=ctx.now(), limits=ctx.track.limits)
    try:
        found = await ctx.writer.run(job)
    except (Dropped, SQLAlchemyError) as exc:
        log.warning("click not recorded: %s", exc)
        return unavailable()
    if found is None:
        return not_found()
    msg = found.message
    sites = ctx.track.site_origins
    visitor = sign(ctx.secret, "visit", lead_id=msg.lead_id) if on_site(found.link, sites) \
        else None
    utm = fill_utm(ctx.track.utm, {"flow": msg.flow, "step": msg.step,
                                   "template": msg.template, "campaign": msg.campaign})
    target = ascii_url(landing_url(found.link, sites, visitor, utm))
    return Response(status_code=302, headers={"location": target})


async def pixel(request: Request) -> Response:
    ctx = context(request)
    path: str = request.path_params["path"]  # anything under /o/ gets the image
    data = check(ctx.secret, path.removesuffix(".gif"), "open") if path.endswith(".gif") \
        else None
    if data is not None and data.outbox_id > 0:
        job = partial(mail_events.record_open, outbox_id=data.outbox_id,
                      method=request.method, user_agent=request.headers.get("user-agent"),
                      now=ctx.now(), limits=ctx.track.limits)
        try:
            await ctx.writer.run(job, droppable=True)
        except Exception as exc:  # noqa: BLE001 - the pixel answers the image whatever happens
            log.warning("open not recorded: %s", exc)
    return pages.pixel()

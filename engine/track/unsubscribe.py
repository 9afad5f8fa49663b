"""``/u/{token}``: the unsubscribe page (GET) and the unsubscribe itself (POST), RFC 8058.

- GET only shows a page: for a valid token, a confirmation in the lead's language (Japanese or
  English) with a form that POSTs; for an invalid one, how to opt out by reply or by writing to
  the sender. A GET never changes anything (I8): link scanners and prefetchers GET every URL.
- POST (the one-click POST of mailbox providers, or the confirmation form; urlencoded or
  multipart, without cookies) must carry ``List-Unsubscribe=One-Click``. With a valid token it
  suppresses the address and stops its queued sends, committed before the answer; repeated POSTs
  change nothing more. An invalid token gets the same 200 page and changes nothing (no oracle).
  It never redirects (clients turn a redirected POST into a GET). A database failure answers
  503, so that the client retries.
"""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from engine.track import mail_events, pages
from engine.track.bodies import BadForm, media_type, parse_form, read_body
from engine.track.context import Context, context
from engine.track.tokens import check
from engine.track.writer import Dropped

ONE_CLICK = ("List-Unsubscribe", "One-Click")
log = logging.getLogger("engine.track")


def _recipient(ctx: Context, outbox_id: int) -> mail_events.Recipient | None:
    with ctx.engine.connect() as conn:
        return mail_events.recipient(conn, outbox_id)


async def page(request: Request) -> Response:
    ctx = context(request)
    data = check(ctx.secret, request.path_params["token"], "unsubscribe")
    who = None
    if data is not None and data.outbox_id > 0:
        try:
            who = await run_in_threadpool(_recipient, ctx, data.outbox_id)
        except SQLAlchemyError as exc:
            log.warning("unsubscribe page without the lead: %s", exc)
            return pages.page("confirm.html", ("ja", "en"), title="confirm_title", email=None)
    if who is None:
        return pages.message("manual", sender=ctx.settings.sender)
    langs = pages.languages(who.language, who.country)
    return pages.page("confirm.html", langs, title="confirm_title", email=pages.mask(who.email))


async def post(request: Request) -> Response:
    ctx = context(request)
    if media_type(request) not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return Response("expected a form body: List-Unsubscribe=One-Click", 415,
                        media_type="text/plain")
    body = await read_body(request, ctx.track.limits.unsubscribe_body)
    try:
        fields = parse_form(body, request.headers.get("content-type", ""), 10)
    except BadForm:
        return Response("expected List-Unsubscribe=One-Click", 400, media_type="text/plain")
    if fields.get(ONE_CLICK[0]) != [ONE_CLICK[1]]:
        return Response("expected List-Unsubscribe=One-Click", 400, media_type="text/plain")
    data = check(ctx.secret, request.path_params["token"], "unsubscribe")
    langs: tuple[str, ...] = ("ja", "en")
    if data is not None and data.outbox_id > 0:
        job = partial(mail_events.unsubscribe, outbox_id=data.outbox_id, now=ctx.now())
        try:
            done = await ctx.writer.run(job)
        except (Dropped, SQLAlchemyError) as exc:
            log.error("unsubscribe NOT recorded (answered 503): %s", exc)
            return pages.message("error", status=503, headers={"retry-after": "30"})
        if done is not None:
            langs = pages.languages(done.recipient.language, done.recipient.country)
    return pages.message("done", langs)

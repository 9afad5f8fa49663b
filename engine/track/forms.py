"""``POST /f/{form}``: a form or download on the customer's site creates or updates a lead.

The form posts (urlencoded or multipart, at most 16 KB and 50 fields) from a page of the site
origins: the Origin header (or, without one, the Referer's origin) must be one of them. Fields:

- ``email`` (required), and any attribute a visitor may state about themselves: names, company,
  title, department, phone, employees, industry, service_category, country, language, time_zone,
  and custom attributes the flows declare. Values are normalised and checked as an import's
  (engine.imports.validate). ``stage``, ``owner``, ``consent`` and ``legal_basis`` cannot be
  set by a form; other unknown fields (a CSRF token, the button) are ignored.
- ``consent``: the checkbox; ticked (``on``, ``yes``, ``true``, ``1``) records consent and the
  legal basis ``web form opt-in: <form>``; anything else records none.
- ``asset``: present for a download: records ``download`` (asset, form) instead of
  ``form_submit`` (form).
- ``_nvid``: the visitor id the JS tag adds; ties the visitor's page views to the lead.
- ``_next``: where to send the browser afterwards (303), only if it is a page of the site
  origins; otherwise a thank-you page. ``Accept: application/json`` gets ``{"ok": true}``.
- ``_hp``: a honeypot: a bot that fills it gets the same answer and nothing is written.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.imports import normalize as N
from engine.imports.validate import convert
from engine.track import form_leads, pages
from engine.track.bodies import BadForm, Fields, parse_form, read_body
from engine.track.collect import ID, cors, preflight
from engine.track.context import Context, context
from engine.track.landing import ascii_url, on_site, origin_of, safe_link
from engine.track.writer import Dropped

FORM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
FORM_ATTRIBUTES = ("first_name", "last_name", "company", "title", "department", "phone",
                   "employees", "industry", "service_category", "country", "language",
                   "time_zone")
NOT_FROM_FORMS = frozenset({"email", "stage", "owner", "consent", "legal_basis", "created_at"})
TICKED = frozenset({"on", "yes", "true", "1"})
MAX_VALUE = 1000
log = logging.getLogger("engine.track")


class Invalid(ValueError):
    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def _one(fields: Fields, name: str) -> str | None:
    values = fields.get(name)
    return values[-1] if values else None


def submission(form: str, fields: Fields, ctx: Context) -> form_leads.Submission:
    """The checked submission, or :class:`Invalid` naming every bad field."""
    bad: list[str] = []
    email: str | None = None
    try:
        email = N.email(_one(fields, "email") or "")
    except N.Invalid:
        pass
    if email is None:
        bad.append("email")
    allowed = [*FORM_ATTRIBUTES, *(n for n, f in ctx.config.fields.items()
                                   if f.custom and n not in NOT_FROM_FORMS)]
    values: dict[str, Any] = {}
    for name in allowed:
        raw = _one(fields, name)
        if raw is None or name not in ctx.config.fields:
            continue
        try:
            if len(raw) > MAX_VALUE:
                raise N.Invalid("too long")
            value = convert(ctx.config.fields[name], raw, ctx.zone)
        except N.Invalid:
            bad.append(name)
            continue
        if value is not None:
            values[name] = value
    raw_asset = _one(fields, "asset")
    asset = N.text(raw_asset) if raw_asset is not None and len(raw_asset) <= MAX_VALUE else None
    if raw_asset is not None and asset is None:
        bad.append("asset")
    if bad:
        raise Invalid(bad)
    assert email is not None
    visitor = _one(fields, "_nvid")
    return form_leads.Submission(
        form=form, email=email, values=values,
        consent=(_one(fields, "consent") or "").strip().lower() in TICKED, asset=asset,
        visitor=visitor if visitor is not None and ID.fullmatch(visitor) else None)


def _sender_origin(request: Request) -> str:
    origin = request.headers.get("origin")
    if origin is None:
        referer = safe_link(request.headers.get("referer"))
        return origin_of(referer) if referer else ""
    return origin.lower()


def _answer(request: Request, ctx: Context, origin: str, fields: Fields) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"ok": True}, headers=cors(origin))
    target = safe_link(_one(fields, "_next"))
    if target is not None and on_site(target, ctx.track.site_origins):
        return Response(status_code=303, headers={"location": ascii_url(target)})
    return pages.message("thanks")


async def submit(request: Request) -> Response:
    ctx = context(request)
    form = request.path_params["form"]
    origin = _sender_origin(request)
    allowed = origin in ctx.track.site_origins
    if request.method == "OPTIONS":
        return preflight(origin, allowed)
    if not FORM_NAME.fullmatch(form):
        return pages.message("not_found", status=404)
    if not allowed:
        return Response("origin not allowed", 403, media_type="text/plain")
    body = await read_body(request, ctx.track.limits.form_body)
    try:
        fields = parse_form(body, request.headers.get("content-type", ""),
                            ctx.track.limits.form_fields)
    except BadForm:
        return Response("expected a form (urlencoded or multipart, without files)", 400,
                        media_type="text/plain", headers=cors(origin))
    if _one(fields, "_hp"):
        return _answer(request, ctx, origin, fields)
    try:
        sub = submission(form, fields, ctx)
    except Invalid as exc:
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"ok": False, "fields": exc.fields}, 400, headers=cors(origin))
        return pages.message("bad_form", status=400, fields=exc.fields)
    job = partial(form_leads.submit, sub=sub, config=ctx.config, zone=ctx.zone, now=ctx.now(),
                  limits=ctx.track.limits)
    try:
        await ctx.writer.run(job)
    except (Dropped, SQLAlchemyError) as exc:
        log.error("form %s not recorded: %s", form, exc)
        return pages.message("error", status=503, headers={"retry-after": "5"})
    return _answer(request, ctx, origin, fields)

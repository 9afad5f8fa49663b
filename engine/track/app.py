"""The tracking server's ASGI application (Starlette), run by `engine serve` on uvicorn.

    app = create_app(engine, load_settings())

Routes (docs/tracking.md): ``/c/{token}/{i}`` click, ``/o/{token}.gif`` open pixel,
``/u/{token}`` unsubscribe (GET page, POST one-click), ``/t.js`` page tag, ``/collect`` beacons,
``/f/{form}`` forms and downloads, ``/hooks/events`` the relay's signed bounce and complaint
reports, ``/healthz``. The lifespan owns the long-lived parts: the writer thread
(engine.track.writer) and the hourly pruning of anonymous page views past their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from engine.config import Settings
from engine.imports import config as import_config
from engine.store.keep import signing_secret
from engine.track import clicks, collect, forms, hooks, pages, tag, unsubscribe, visits
from engine.track.context import Context, utc_now
from engine.track.guard import Guard
from engine.track.settings import TrackSettings
from engine.track.writer import Writer

PRUNE_EVERY = 3600.0
log = logging.getLogger("engine.track")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors the endpoints raise (413 from a body over its cap, 405...): short plain text,
    never the request echoed back."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return pages.message("not_found", status=404)
    return PlainTextResponse(_REASONS.get(status, "error"), status)


_REASONS = {400: "bad request", 405: "method not allowed", 413: "request too large"}


def routes() -> list[Route]:
    return [
        Route("/c/{token}/{index}", clicks.click, methods=["GET", "HEAD"]),
        Route("/o/{path:path}", clicks.pixel, methods=["GET", "HEAD"]),
        Route("/u/{token}", unsubscribe.page, methods=["GET", "HEAD"]),
        Route("/u/{token}", unsubscribe.post, methods=["POST"]),
        Route("/t.js", tag.script, methods=["GET", "HEAD"]),
        Route("/collect", collect.collect, methods=["POST", "OPTIONS"]),
        Route("/f/{form}", forms.submit, methods=["POST", "OPTIONS"]),
        Route("/hooks/events", hooks.receive, methods=["POST"]),
        Route("/healthz", health, methods=["GET", "HEAD"]),
    ]


def create_app(engine: Engine, settings: Settings, track: TrackSettings | None = None, *,
               config: import_config.Config | None = None, secret: bytes | None = None,
               now: Callable[[], datetime] = utc_now) -> Starlette:
    """The application over an open, migrated store (engine.store.db.connect).

    ``track``: UTM and limits (default: the site origins of ``settings``, no UTM); ``config``:
    the flows' attributes and merge rules, for forms (default: core attributes, newest wins);
    ``secret``: the token key (default: ENGINE_SECRET or the store's kept one, as the mail
    side signs with); ``now``: the clock.
    """
    track = track or TrackSettings(site_origins=tuple(o.lower() for o in settings.site_origins))
    limits = track.limits
    writer = Writer(engine, batch=limits.batch, limit=limits.queue)
    ctx = Context(engine=engine, writer=writer,
                  secret=secret or signing_secret(engine, settings.secret), settings=settings,
                  track=track, config=config or import_config.default(), now=now)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        pruning = asyncio.create_task(_prune_forever(ctx))
        try:
            yield
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
            await asyncio.to_thread(writer.stop)

    app = Starlette(routes=routes(), middleware=[Middleware(Guard, limits=limits)],
                    exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.router.redirect_slashes = False  # a POST to /u/... must never be answered by a redirect
    app.state.ctx = ctx
    return app


async def _prune_forever(ctx: Context) -> None:
    while True:
        try:
            removed = await ctx.writer.run(partial(visits.prune_held, now=ctx.now(),
                                                   limits=ctx.track.limits))
            if removed:
                log.info("deleted %d anonymous page views past their retention", removed)
        except Exception as exc:  # noqa: BLE001 - try again next time
            log.warning("pruning anonymous page views failed: %s", exc)
        await asyncio.sleep(PRUNE_EVERY)

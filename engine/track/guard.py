"""The middleware in front of every endpoint: per-client rate limits, early size checks and the
security headers (RELIABILITY 3.3, 3.9).

- Rate limits per client address and class of endpoint (engine.track.ratelimit): mail links
  (clicks, opens, unsubscribes) share one generous bucket; beacons, forms and the relay's
  reports (``/hooks/``) have their own, so a flood of one class cannot starve another.
  Over the limit: 429 with Retry-After, except the open pixel, which always answers the image
  (and then records nothing).
- A declared Content-Length over the endpoint's cap is refused with 413 before anything is
  read; bodies without one are counted as they are read (engine.track.bodies). The relay's
  reports get a cap of their own (``hook_body``, 1 MiB): a batch of a thousand events is
  legitimately large, while every other endpoint's body stays small.
- Every response gets ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
  (a tracked URL never leaks to the landing page), a CSP that allows no script, no framing
  (``frame-ancestors 'none'``), no base URL and forms only to this server, and ``Cache-Control:
  no-store`` unless the endpoint chose its own caching.

The client address is the connection's peer, or what a trusted reverse proxy says it is
(uvicorn's ``--forwarded-allow-ips``, see docs/tracking.md).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.track.pages import pixel
from engine.track.ratelimit import RateLimiter
from engine.track.settings import Limits

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-frame-options", b"DENY"),
    (b"x-robots-tag", b"noindex, nofollow"),
)


def endpoint_class(path: str) -> str:
    if path.startswith(("/c/", "/u/")):
        return "mail"
    if path.startswith("/o/"):
        return "pixel"
    if path == "/collect":
        return "collect"
    if path.startswith("/f/"):
        return "form"
    if path.startswith("/hooks/"):
        return "hook"
    return "other"


class Guard:
    def __init__(self, app: ASGIApp, limits: Limits,
                 limiters: dict[str, RateLimiter] | None = None) -> None:
        self.app = app
        self.limits = limits
        self.limiters = limiters if limiters is not None else make_limiters(limits)

    def body_limit(self, path: str) -> int:
        kind = endpoint_class(path)
        if path.startswith("/u/"):
            return self.limits.unsubscribe_body
        return {"collect": self.limits.collect_body, "form": self.limits.form_body,
                "hook": self.limits.hook_body}.get(kind, self.limits.other_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        path: str = scope["path"]
        kind = endpoint_class(path)
        limiter = self.limiters.get("mail" if kind == "pixel" else kind)
        client = scope.get("client")
        key = client[0] if client else "-"
        if limiter is not None and not limiter.allow(key):
            if kind == "pixel":
                await pixel()(scope, receive, send)
                return
            await PlainTextResponse("too many requests", 429, headers={
                "retry-after": str(limiter.retry_after(key))})(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.body_limit(path):
            await Response("request too large", 413, media_type="text/plain")(
                scope, receive, send)
            return
        await self.app(scope, receive, send)


def make_limiters(limits: Limits) -> dict[str, RateLimiter]:
    return {
        "mail": RateLimiter(*limits.rate_mail, max_keys=limits.tracked_ips),
        "collect": RateLimiter(*limits.rate_collect, max_keys=limits.tracked_ips),
        "form": RateLimiter(*limits.rate_form, max_keys=limits.tracked_ips),
        "hook": RateLimiter(*limits.rate_hook, max_keys=limits.tracked_ips),
    }


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0] not in present]
            if b"cache-control" not in present:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped

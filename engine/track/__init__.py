"""The tracking server: click redirects, the open pixel, unsubscribes, the page tag and its
beacons, and forms (``engine serve``; docs/tracking.md is the guide).

request -> guard (rate limits, size caps, security headers) -> endpoint (clicks, unsubscribe,
collect, forms: validate, answer) -> a job for the writer (mail_events, visits, form_leads: what
is written) -> one group-committed transaction -> the response. ``app.create_app`` assembles it.
"""

from engine.track.app import create_app

__all__ = ["create_app"]

"""Is this click or open a person's, or a machine's? Pure: request facts in, a reason or None out.

Machines fetch tracked URLs all the time (RELIABILITY 3.11): corporate link scanners open every
link of a message within seconds of delivery, mail privacy proxies (Apple Mail Privacy
Protection, Gmail's and Yahoo's image proxies) fetch the open pixel whether or not anyone reads
the mail, and checkers send HEAD requests. Their clicks and opens are still recorded, flagged
(``events.machine`` TRUE, the reason in ``properties["why"]``), so that scores and branches can
ignore them by default while the raw facts stay available.

Reasons, in the order they are tested:

- ``head``: a HEAD request (no browser follows a link with HEAD);
- ``no_user_agent``: no or an empty User-Agent header;
- ``scanner``: a User-Agent of a known scanner, proxy, crawler or HTTP library;
- ``privacy_proxy``: the bare ``Mozilla/5.0`` of Apple's Mail Privacy Protection;
- ``too_soon``: within ``machine_seconds`` of the message being sent (``outbox.sent_at``);
- ``burst`` (clicks, decided with the store): another link of the same message clicked within
  ``burst_seconds`` (see engine.track.records).
"""

from __future__ import annotations

import re
from datetime import datetime

# Lower-case substrings of User-Agent values that people's browsers do not send.
SCANNER_MARKERS = (
    "googleimageproxy", "ggpht.com", "yahoomailproxy", "bingpreview", "barracuda", "mimecast",
    "proofpoint", "messagelabs", "symantec", "trendmicro", "forcepoint", "sophos", "fortiguard",
    "ironport", "zscaler", "safelinks", "headlesschrome", "phantomjs", "python-requests",
    "python-urllib", "python-httpx", "aiohttp", "go-http-client", "curl/", "wget/", "java/",
    "okhttp", "libwww-perl", "apache-httpclient", "facebookexternalhit", "slackbot",
    "discordbot", "linkedinbot", "twitterbot", "whatsapp", "skypeuripreview",
    "outlook-ios-linkpreview",
)
_BOTLIKE = re.compile(r"bot\b|spider|crawl|slurp|scanner|preview|\bproxy\b")
MPP_AGENT = "mozilla/5.0"


def agent_reason(user_agent: str | None) -> str | None:
    """The reason a User-Agent alone gives, or None for one a person's mail client sends."""
    agent = (user_agent or "").strip().lower()
    if not agent:
        return "no_user_agent"
    if any(marker in agent for marker in SCANNER_MARKERS) or _BOTLIKE.search(agent):
        return "scanner"
    if agent == MPP_AGENT:
        return "privacy_proxy"
    return None


def classify(method: str, user_agent: str | None, sent_at: datetime | None, now: datetime,
             machine_seconds: float) -> str | None:
    """Why this request looks automated, or None when it looks like a person."""
    if method.upper() == "HEAD":
        return "head"
    reason = agent_reason(user_agent)
    if reason is not None:
        return reason
    if sent_at is not None and (now - sent_at).total_seconds() < machine_seconds:
        return "too_soon"
    return None

"""Signed tracking tokens: what the links, the open pixel and the unsubscribe URL carry.

    token = sign(secret, "click", outbox_id=42)
    data = verify(secret, token, "click")      # Token(purpose="click", outbox_id=42)

URLs on ENGINE_TRACKING_URL: ``/c/{click token}/{i}`` (the i-th link of the message),
``/o/{open token}.gif`` and ``/u/{unsubscribe token}``. A token names one purpose and one sent
message (its outbox row), never a URL (invariant I10: the redirect target comes
from the store, so no tracked URL can lead anywhere the sent message did not link to). The
HMAC-SHA256 tag (truncated to 128 bits) makes tokens unforgeable without ENGINE_SECRET; any
change, truncation or a token for another purpose fails :func:`verify`, which never raises.
The link index sits outside the signature on purpose: one HMAC per message instead of one per
link (a third of the render cost), and a changed index still only reaches a link of the same
message, read from the store (outbox.payload["links"]).

A visitor token (purpose ``visit``) ties a web visitor to a lead after a click; it names the lead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

PURPOSES = ("click", "open", "unsubscribe", "visit")
TAG_BYTES = 16
MAX_TOKEN = 200  # longer input is rejected before any decoding work


@dataclass(frozen=True)
class Token:
    purpose: str
    outbox_id: int  # 0 for visitor tokens
    link: int | None = None  # unused by mail (the index is in the path); kept for other uses
    lead_id: int | None = None  # visitor tokens


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES])


def sign(secret: bytes, purpose: str, outbox_id: int = 0, link: int | None = None,
         lead_id: int | None = None) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    fields = [purpose, str(outbox_id), "" if link is None else str(link),
              "" if lead_id is None else str(lead_id)]
    body = _b64(":".join(fields).encode("ascii"))
    return f"{body}.{_tag(secret, body)}"


def verify(secret: bytes, token: str, purpose: str | None = None) -> Token | None:
    """The token's content if its tag is right (and it is for ``purpose``), else None."""
    if (not isinstance(token, str) or len(token) > MAX_TOKEN or not token.isascii()
            or token.count(".") != 1):
        return None
    body, tag = token.split(".")
    if not body or not hmac.compare_digest(tag, _tag(secret, body)):
        return None
    try:
        kind, outbox, link, lead = _unb64(body).decode("ascii").split(":")
        data = Token(kind, int(outbox), int(link) if link else None,
                     int(lead) if lead else None)
    except (ValueError, UnicodeDecodeError):
        return None
    if kind not in PURPOSES or (purpose is not None and kind != purpose):
        return None
    return data


def message_id(secret: bytes, dedupe_key: str, domain: str) -> str:
    """The deterministic Message-ID of one send intent (RELIABILITY 2.2 rule 5): the same intent
    always carries the same id, so a retry is recognisable; nothing in it can be guessed."""
    digest = hmac.new(secret, dedupe_key.encode("utf-8"), hashlib.sha256).digest()[:20]
    local = base64.b32encode(digest).decode("ascii").rstrip("=").lower()
    return f"<{local}@{domain}>"

"""Token checks at the server's edge: engine.mail.tokens.verify, after a shape check.

A token is base64url text, a dot and a base64url tag, and nothing else. Anything that is not
(non-ASCII text above all, on which ``verify`` itself would raise instead of refusing) is refused
here before any decoding or HMAC work.
"""

from __future__ import annotations

import re

from engine.mail.tokens import MAX_TOKEN, Token, verify

SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{1,64}")


def check(secret: bytes, token: object, purpose: str) -> Token | None:
    """The token's content if it is a valid token for ``purpose``, else None; never raises."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or not SHAPE.fullmatch(token):
        return None
    return verify(secret, token, purpose)

"""What the worker needs from a built message, and the checks it makes before sending one.

Message building belongs to engine.mail.render; the worker takes any object with the
attributes of :class:`Built` (``data`` the whole message, ``links``, ``recipient``, ``sender``,
``message_id``). Header values are the builder's to encode, but the envelope is the worker's:
an address with a line break or a Unicode line separator could smuggle SMTP commands or headers
(invariant I12, CPython CVE-2024-6923), so such a message is refused here, whoever built it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

# What str.splitlines() breaks on, plus NUL: none of it belongs in an address.
_UNSAFE = re.compile("[\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LEADING_DOT = re.compile(rb"(?m)^\.")


class Built(Protocol):
    """A message ready to send (engine.mail.render.Built has these attributes)."""

    @property
    def data(self) -> bytes: ...
    @property
    def links(self) -> Sequence[str]: ...
    @property
    def recipient(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...


def envelope_problem(built: Built, expected_message_id: str | None) -> str | None:
    """Why this message must not be sent (None: it may). Checks the envelope addresses and that
    the message carries the outbox row's Message-ID (retries and reconciliation key on it)."""
    for role, address in (("recipient", built.recipient), ("sender", built.sender)):
        if not isinstance(address, str) or not address:
            return f"the envelope {role} is missing"
        if _UNSAFE.search(address):
            return (f"the envelope {role} {address!r} contains a line break or control "
                    "character: refused (header injection, I12)")
        if "<" in address or ">" in address or " " in address or "@" not in address:
            return f"the envelope {role} {address!r} is not a plain address"
    if not isinstance(built.data, bytes | bytearray) or not built.data:
        return "the built message has no content"
    if expected_message_id and built.message_id is not None \
            and _bare(built.message_id) != _bare(expected_message_id):
        return (f"the built message carries Message-ID {built.message_id!r}, but its outbox row "
                f"says {expected_message_id!r}")
    return None


def smtp_payload(data: bytes) -> bytes:
    """The message as DATA transmits it, without the final dot: CRLF line endings, a final CRLF,
    and every line that starts with a dot doubled (RFC 5321 4.5.2 transparency)."""
    # One pass over the bytes (splitlines: CR, LF and CRLF) is cheaper than checking first.
    body = b"\r\n".join(bytes(data).splitlines()) + b"\r\n"
    if body.startswith(b".") or b"\n." in body:
        body = _LEADING_DOT.sub(b"..", body)
    return body


def file_name(message_id: str | None, fallback: str) -> str:
    """A safe, stable file name for a message: its Message-ID without brackets, or ``fallback``."""
    stem = _bare(message_id) if message_id else fallback
    stem = re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).lstrip(".")[:200]
    return f"{stem or fallback}.eml"


def _bare(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")

"""Reading request bodies within a size cap, and parsing the two form encodings.

Starlette's own form parsing needs python-multipart and buffers before it checks sizes; here the
body is read with a hard cap first (413 as soon as it is passed, whether or not the client sent a
Content-Length), and only then parsed, with a cap on the number of fields. Bodies are at most a
few kilobytes (engine.track.settings.Limits), so parsing a complete one is cheap and bounded.
Files are refused: no endpoint takes uploads.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

Fields = dict[str, list[str]]
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413 if declared.isdigit() else 400)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413)
        chunks.append(chunk)
    return b"".join(chunks)


class BadForm(ValueError):
    """A body that is not a form of the expected encoding (400), or has too many fields."""


def parse_form(body: bytes, content_type: str, max_fields: int) -> Fields:
    """The fields of an urlencoded or multipart body, by name, in order."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == URLENCODED:
        return _urlencoded(body, max_fields)
    if kind == MULTIPART:
        return _multipart(body, content_type, max_fields)
    raise BadForm(f"expected {URLENCODED} or {MULTIPART}")


def _urlencoded(body: bytes, max_fields: int) -> Fields:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm(str(exc)) from None
    out: Fields = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _multipart(body: bytes, content_type: str, max_fields: int) -> Fields:
    if any(ch in content_type for ch in "\r\n"):
        raise BadForm("bad Content-Type")
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise BadForm("not a multipart body")
    out: Fields = {}
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) > max_fields:
        raise BadForm("too many fields")
    for part in parts:
        if not isinstance(part, Message):
            raise BadForm("bad part")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            raise BadForm("a part without a field name, or a file")
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            raise BadForm("bad part")
        try:
            value = raw.decode(part.get_content_charset() or "utf-8")
        except (LookupError, UnicodeDecodeError):
            raise BadForm("a field that is not UTF-8") from None
        out.setdefault(name, []).append(value)
    return out

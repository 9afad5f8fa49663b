"""RFC 5322 / MIME bytes, assembled by hand from a skeleton made once per template and language.

The stdlib's ``EmailMessage`` builds a message in 3.6 ms (277 per second, PERFORMANCE.md): more
than rendering and sending together. A marketing message here is always the same shape, so the
parts that never change (MIME-Version, the multipart boundary, the part headers, the RFC 8058
header) are bytes made once (:class:`Skeleton`), and per message only the personal headers and
the two bodies are encoded:

- bodies: UTF-8, quoted-printable when mostly ASCII (readable in a .eml file), base64 otherwise
  (Japanese text would triple in quoted-printable); CRLF line endings, lines under 78 octets;
- headers: printable ASCII as it is (folded at spaces), anything else as RFC 2047 encoded words
  (``=?UTF-8?B?...?=``, whole characters per word, folded), display names quoted when needed.

Every header value is checked first: a CR, LF, Unicode line separator or other control
character raises :class:`HeaderError` (invariant I12, RELIABILITY T-T5), so no value can add a
header or end the header block. The boundary contains ``=_``, which neither quoted-printable nor
base64 output can contain, so no body can end a part early. tests/engine/mail parse the output
back with the stdlib parser.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
import secrets
from dataclasses import dataclass

from engine.mail.errors import HeaderError

_UNSAFE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_PLAIN_ASCII = re.compile(r"[\x20-\x7e]*")
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
WORD_BYTES = 39  # UTF-8 bytes per encoded word: 52 base64 characters, 64 with the wrapper
LINE = 76


def checked(value: str, what: str) -> str:
    """``value`` if it can be a header value; a HeaderError naming ``what`` otherwise."""
    bad = _UNSAFE.search(value)
    if bad:
        raise HeaderError(f"the {what} contains a line break or control character "
                          f"(U+{ord(bad.group()):04X}) and was refused (header injection): "
                          f"{value[:80]!r}")
    return value


def _encoded_words(text: str) -> list[str]:
    """``=?UTF-8?B?...?=`` words of at most WORD_BYTES bytes, each cut between characters."""
    data = text.encode("utf-8")
    words: list[str] = []
    start, end = 0, len(data)
    while start < end:
        cut = min(start + WORD_BYTES, end)
        while cut < end and (data[cut] & 0xC0) == 0x80:  # a UTF-8 continuation byte
            cut -= 1
        words.append("=?UTF-8?B?" + base64.b64encode(data[start:cut]).decode("ascii") + "?=")
        start = cut
    return words


def _fold(words: list[str], first: int, sep: str = " ") -> str:
    """Words joined on one line while it fits, else on continuation lines (CRLF + space)."""
    lines: list[str] = []
    current = ""
    room = LINE - first
    for w in words:
        if not current:
            current = w
        elif len(current) + len(sep) + len(w) <= room:
            current += sep + w
        else:
            lines.append(current)
            current, room = w, LINE - 1
    lines.append(current)
    return "\r\n ".join(lines)


def encode_text(value: str, what: str, name_length: int) -> str:
    """An unstructured header value (Subject): as it is when plain ASCII, else encoded words.
    ``name_length`` is the length of ``Name: `` before it, for folding."""
    checked(value, what)
    if _PLAIN_ASCII.fullmatch(value) and "=?" not in value:
        if len(value) + name_length <= LINE:
            return value
        words = value.split(" ")
        if max(len(w) for w in words) + name_length <= LINE:
            return _fold(words, name_length)
    return _fold(_encoded_words(value), name_length)


def encode_name(name: str, what: str) -> str:
    """A display name: an atom phrase as it is, quoted when it has specials, else encoded."""
    checked(name, what)
    if not name:
        return ""
    if _ATOM_PHRASE.fullmatch(name) and "=?" not in name:
        return name
    if _PLAIN_ASCII.fullmatch(name) and "=?" not in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return " ".join(_encoded_words(name))


@functools.lru_cache(maxsize=4096)  # senders repeat on every message
def mailbox(name: str, address: str, what: str) -> str:
    """``Name <address>`` (or the bare address), for From, To and Reply-To."""
    checked(address, f"{what} address")
    shown = encode_name(name, f"{what} name")
    return f"{shown} <{address}>" if shown else address


def message_id(given: str | None, domain: str) -> str:
    """The given Message-ID in angle brackets, or a new random one on ``domain``."""
    if given is None:
        return f"<{secrets.token_hex(16)}@{domain}>"
    value = checked(given.strip(), "Message-ID")
    if not value.startswith("<"):
        value = f"<{value}>"
    if not _MESSAGE_ID.fullmatch(value):
        raise HeaderError(f"not a Message-ID: {given[:80]!r}")
    return value


def list_unsubscribe(url: str, mailto: str | None = None) -> str:
    """The List-Unsubscribe value (RFC 2369, RFC 8058): the https URI first (what one-click
    clients use), then ``<mailto:ADDRESS?subject=unsubscribe>`` when a mailbox is configured,
    folded onto its own line so that the header stays readable."""
    value = f"<{checked(url, 'unsubscribe URL')}>"
    if mailto:
        value += f",\r\n <mailto:{checked(mailto, 'unsubscribe mailbox')}?subject=unsubscribe>"
    return value


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_header(at: dt.datetime | None) -> str:
    """RFC 5322 date-time (as email.utils.format_datetime, in a third of the time)."""
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    offset = when.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return (f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hours:02d}{mins:02d}")


def encode_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body bytes with CRLF line endings) for a text part."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    if len(data) <= len(text) * 1.1:
        body = binascii.b2a_qp(data, istext=True)
        return b"quoted-printable", body.replace(b"\n", b"\r\n")
    encoded = base64.b64encode(data)  # encodebytes() is slower: it encodes 57 bytes at a time
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return b"base64", b"\r\n".join(lines) + b"\r\n"


@dataclass(frozen=True)
class Skeleton:
    """The unchanging bytes of one kind of message: ``tail`` ends the header block, ``parts``
    are the part headers (one per body), ``close`` ends the message."""

    tail: bytes
    parts: tuple[bytes, ...]
    close: bytes

    def assemble(self, head: list[str], bodies: list[str]) -> bytes:
        out = ["\r\n".join(head).encode("ascii"), b"\r\n", self.tail]
        for part, body in zip(self.parts, bodies, strict=True):
            cte, data = encode_body(body)
            out += [part, cte, b"\r\n\r\n", data]
        out.append(self.close)
        return b"".join(out)


def alternative_skeleton(language: str, unsubscribe_post: bool = True) -> Skeleton:
    """multipart/alternative: text/plain then text/html (clients show the last they can).
    ``unsubscribe_post``: the RFC 8058 one-click header; off where the unsubscribe URL does
    not unsubscribe on its own (settings.one_click_unsubscribe)."""
    boundary = f"=_nurture_{secrets.token_hex(8)}"
    post = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" if unsubscribe_post else b""
    tail = (post + b"MIME-Version: 1.0\r\n"
            + f"Content-Language: {language}\r\n".encode("ascii")
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode())
    part = "\r\n--{b}\r\nContent-Type: text/{kind}; charset=\"utf-8\"\r\n" \
           "Content-Transfer-Encoding: "
    return Skeleton(tail,
                    (part.format(b=boundary, kind="plain").encode(),
                     part.format(b=boundary, kind="html").encode()),
                    f"\r\n--{boundary}--\r\n".encode())


def plain_skeleton(language: str) -> Skeleton:
    """A single text/plain part (internal notifications)."""
    tail = (b"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
            + f"Content-Language: {language}\r\n".encode("ascii")
            + b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: ')
    return Skeleton(b"", (tail,), b"")

"""DKIM signatures (RFC 6376) on every outgoing message, when ``[dkim]`` is configured.

    signer = Signer.load(settings.dkim, senders=["marketing@example.co.jp"])
    data = signer.sign(built_bytes, "marketing@example.co.jp")   # DKIM-Signature added on top

Why the engine can sign itself: RFC 8058 one-click unsubscribe counts only under a valid DKIM
signature whose ``h=`` covers ``List-Unsubscribe`` and ``List-Unsubscribe-Post``, and the Gmail
and Yahoo bulk-sender rules want DKIM aligned with the From domain (RELIABILITY 1.1, 1.2). A relay
that signs (OpenDKIM, an ESP) does the same work outside the engine and is the better place at
high volume (docs/delivery.md gives the measured cost per message).

- Canonicalisation relaxed/relaxed: relays may refold headers and touch trailing whitespace.
- ``h=`` names the headers that carry meaning (:data:`SIGNED`), as many times as they occur, and
  From, To, Subject and both list headers once more (:data:`OVERSIGNED`): a header added after
  signing (a second From, or ``List-Unsubscribe-Post`` on a message that did not offer
  one-click) breaks the signature instead of riding on it.
- rsa-sha256 with a PEM key (PKCS#1 or PKCS#8, unencrypted). dkimpy's ed25519 needs PyNaCl,
  which the engine does not depend on.
- The key is read and parsed once (:meth:`Signer.load`): a missing, unreadable or malformed key
  is a :class:`DkimError` naming the file before any message is built, never a failure per
  message. A ``d=`` whose organisation differs from the From domain's is refused there too
  (DMARC would fail), unless ``allow_unaligned``.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dkim as dkimpy
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from engine.config import ConfigError, Dkim
from engine.mail.errors import TemplateError

log = logging.getLogger("engine.mail")

SIGNED = ("from", "reply-to", "to", "cc", "subject", "date", "message-id", "mime-version",
          "content-type", "content-language", "content-transfer-encoding", "list-id",
          "list-unsubscribe", "list-unsubscribe-post", "auto-submitted")
"""Header fields signed when present (lower-case; the order of ``h=``)."""

OVERSIGNED = ("from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post")
"""Listed once more than they occur: nobody can add one after signing."""

MIN_KEY_BITS = 1024  # receivers ignore shorter keys (RFC 8301); 2048 is the recommendation
CANONICALIZE = (b"relaxed", b"relaxed")

# Second-level labels under which a country's registrations sit (example.co.jp, example.com.au):
# the organisational domain is then three labels, not two. A heuristic in place of the Public
# Suffix List; allow_unaligned is the way out where it guesses wrong.
_SECOND_LEVEL = frozenset({"ac", "co", "com", "ed", "edu", "go", "gov", "gr", "lg", "ltd", "ne",
                           "net", "or", "org", "plc", "sch"})
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.M)


class DkimError(ConfigError):
    """The DKIM configuration cannot sign: the key file, the key itself, or alignment."""


def organisational_domain(domain: str) -> str:
    """``mail.example.co.jp`` -> ``example.co.jp``; ``news.example.com`` -> ``example.com``."""
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(from_domain: str, signing_domain: str) -> bool:
    """DMARC relaxed alignment: the same organisational domain."""
    return organisational_domain(from_domain) == organisational_domain(signing_domain)


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower().rstrip(">")


def header_names(message: bytes) -> list[str]:
    """The header field names of a message, lower-case, in order (up to the blank line)."""
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    return [m.group(1).decode("ascii").lower() for m in _HEADER_NAME.finditer(head)]


def include_headers(names: Iterable[str]) -> list[bytes]:
    """``h=`` for a message with these header names: each signed header as often as it occurs,
    the oversigned ones once more (so also once when absent)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    out: list[bytes] = []
    for name in SIGNED:
        times = counts.get(name, 0) + (1 if name in OVERSIGNED else 0)
        out += [name.encode("ascii")] * times
    return out


def read_key(path: Path) -> bytes:
    """The PEM bytes of an RSA private key; a DkimError naming the file otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DkimError(f"DKIM key {path}: no such file ([dkim] key / ENGINE_DKIM_KEY)") from None
    except IsADirectoryError:
        raise DkimError(f"DKIM key {path}: is a folder, not a key file") from None
    except OSError as exc:
        raise DkimError(f"DKIM key {path}: cannot be read ({exc.strerror or exc})") from None
    if b"ENCRYPTED" in data:
        raise DkimError(f"DKIM key {path}: the key is encrypted; give an unencrypted PEM key "
                        "(readable by the engine's user only)")
    try:
        key = parse_pem_private_key(data.replace(b"\r\n", b"\n"))
    except (UnparsableKeyError, ValueError, IndexError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DkimError(f"DKIM key {path}: not a PEM RSA private key ({first[:120]})") from None
    bits = int(key["modulus"]).bit_length()
    if bits < MIN_KEY_BITS:
        raise DkimError(f"DKIM key {path}: {bits}-bit RSA is too short; receivers ignore keys "
                        f"under {MIN_KEY_BITS} bits (use 2048)")
    return data


@dataclass
class Signer:
    """Signs messages for one domain and selector with one key (read once)."""

    domain: str
    selector: str
    key: bytes
    path: Path
    allow_unaligned: bool = False
    _warned: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def load(cls, config: Dkim, senders: Iterable[str] = ()) -> Signer:
        """Read the key, and refuse a ``d=`` that is not aligned with the From domain of
        ``senders`` (the configured sender and owners) unless the configuration allows it."""
        signer = cls(config.domain, config.selector, read_key(config.key), config.key,
                     config.allow_unaligned)
        if not config.allow_unaligned:
            off = sorted({domain_of(s) for s in senders if s and "@" in s
                          and not aligned(domain_of(s), config.domain)})
            if off:
                raise DkimError(
                    f"DKIM d={config.domain} is not aligned with the From domain "
                    f"{', '.join(off)}: DMARC would fail for that mail. Sign with the From "
                    "domain's key, or set [dkim] allow_unaligned = true if SPF alignment "
                    "covers it")
        return signer

    def sign(self, message: bytes, from_address: str) -> bytes:
        """``message`` with a DKIM-Signature header on top. A From of another organisation (a
        lead's owner on a foreign domain) is signed all the same, with one warning per domain."""
        sender_domain = domain_of(from_address)
        if (not self.allow_unaligned and sender_domain not in self._warned
                and not aligned(sender_domain, self.domain)):
            self._warned.add(sender_domain)
            log.warning("DKIM d=%s is not aligned with From domain %s: DMARC may fail for "
                        "mail from that domain", self.domain, sender_domain)
        return self.signature(message) + message

    def signature(self, message: bytes) -> bytes:
        """The ``DKIM-Signature: ...\\r\\n`` header field for ``message``."""
        try:
            header: Any = dkimpy.sign(
                message, self.selector.encode("ascii"), self.domain.encode("ascii"), self.key,
                canonicalize=CANONICALIZE,
                include_headers=include_headers(header_names(message)))
        except dkimpy.DKIMException as exc:
            raise TemplateError(f"DKIM signing failed: {exc}") from None
        assert isinstance(header, bytes)
        return header


def public_key_record(key_pem: bytes) -> str:
    """The DNS TXT record to publish at ``<selector>._domainkey.<domain>`` for a private key:
    ``v=DKIM1; k=rsa; p=<base64 of the SubjectPublicKeyInfo>``."""
    key = parse_pem_private_key(key_pem.replace(b"\r\n", b"\n"))
    rsa = _der(0x30, _der_int(int(key["modulus"])) + _der_int(int(key["publicExponent"])))
    algorithm = _der(0x30, _der(0x06, _RSA_ENCRYPTION) + _der(0x05, b""))
    spki = _der(0x30, algorithm + _der(0x03, b"\x00" + rsa))
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode("ascii")


_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # OID 1.2.840.113549.1.1.1


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))

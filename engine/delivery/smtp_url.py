"""The relay to send through, from ENGINE_SMTP_URL (``settings.smtp_url``).

    smtp://user:pass@relay.internal:587?tls=starttls     STARTTLS required (the default)
    smtps://user:pass@relay.internal                      implicit TLS (port 465)
    smtp://127.0.0.1:2525?tls=none                        plain text: loopback sinks and tests

Query keys: ``tls`` (starttls | none; smtps:// is always implicit TLS), ``timeout`` (seconds per
SMTP reply, default 60), ``pool`` (reused connections, default 4), ``rate`` (messages per second
over all connections, 0 = unlimited), ``cafile`` (a PEM bundle to verify the relay's certificate
with, e.g. an internal CA), ``helo`` (the name given in EHLO). User and password are
percent-decoded. An unknown key is an error, never ignored: a misspelt ``tls`` must not silently
send in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from engine.config import ConfigError

TlsMode = Literal["starttls", "implicit", "none"]
QUERY_KEYS = ("tls", "timeout", "pool", "rate", "cafile", "helo")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 60.0
    pool: int = 4
    rate: float = 0.0
    cafile: str | None = None
    helo: str | None = None

    def display(self) -> str:
        """The relay for messages and logs, password hidden."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port} (tls={self.tls})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse an SMTP URL; raises :class:`ConfigError` saying what is wrong and what is allowed."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError(f"SMTP URL {_hide(url)!r}: the scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError(f"SMTP URL {_hide(url)!r} names no host")
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in QUERY_KEYS:
            raise ConfigError(f"SMTP URL {_hide(url)!r}: unknown option {key!r} "
                              f"(known: {', '.join(QUERY_KEYS)})")
        query[key] = value
    tls = _tls_mode(parts.scheme, query.get("tls"), url)
    try:
        port = parts.port or (465 if tls == "implicit" else 587 if tls == "starttls" else 25)
    except ValueError:
        raise ConfigError(f"SMTP URL {_hide(url)!r}: the port is not a "
                          "number") from None
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=_number(query, "timeout", 60.0, url, minimum=0.01),
        pool=int(_number(query, "pool", 4, url, minimum=1)),
        rate=_number(query, "rate", 0.0, url, minimum=0.0),
        cafile=query.get("cafile") or None,
        helo=query.get("helo") or None,
    )


def _tls_mode(scheme: str, given: str | None, url: str) -> TlsMode:
    if scheme == "smtps":
        if given not in (None, "", "implicit"):
            raise ConfigError(f"SMTP URL {_hide(url)!r}: smtps:// is implicit TLS; "
                              f"tls={given} contradicts it")
        return "implicit"
    if given in (None, "", "starttls"):
        return "starttls"
    if given == "none":
        return "none"
    raise ConfigError(f"SMTP URL {_hide(url)!r}: tls must be starttls or none "
                      "(use smtps:// for implicit TLS)")


def _number(query: dict[str, str], key: str, default: float, url: str,
            minimum: float) -> float:
    if key not in query:
        return default
    try:
        value = float(query[key])
    except ValueError:
        raise ConfigError(f"SMTP URL {_hide(url)!r}: {key}={query[key]!r} is not a "
                          "number") from None
    if not value >= minimum:
        raise ConfigError(f"SMTP URL {_hide(url)!r}: {key} must be at least {minimum:g}")
    return value


def _hide(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()

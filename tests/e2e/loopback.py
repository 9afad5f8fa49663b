"""Stand-ins on loopback for what the engine talks to in production: the SMTP relay and the
customer's own web site.

    with MailCatcher() as mail:               # aiosmtpd; every accepted message kept
        mail.url                              # smtp://127.0.0.1:PORT?tls=none
        mail.messages_to("sato@...")          # parsed email.message.EmailMessage objects
    with HttpsSite(pages, tmp_path) as site:
        site.origin                           # https://localhost:PORT

Email templates link to the company's site through the ``site_url`` setting, so the test points
it (``ENGINE_SITE_URL``) and the tracking server's site origins at this site. The site is served
over HTTPS, as a production site is (the page tag marks its cookie ``Secure`` there), with a
throwaway self-signed certificate made by the ``openssl`` command, which the test's browser
session accepts (``acceptInsecureCerts``). Its host is ``localhost``, while the tracking server
is ``127.0.0.1``: two hosts, so the site's cookies and the tracker's stay apart, as they do in
production. Nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.engine.track.live import Site
from tests.pg import free_port, in_ci


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class MailCatcher:
    """A real SMTP server (aiosmtpd) that accepts every message and keeps it, as a relay would
    ("250 queued as ..."), so the engine's delivery runs its real SMTP path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        catcher = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session,
                                  envelope: Envelope) -> str:
                with catcher._lock:
                    catcher.received.append(Received(
                        str(envelope.mail_from), tuple(envelope.rcpt_tos),
                        bytes(envelope.original_content or b"")))
                    count = len(catcher.received)
                return f"250 2.0.0 Ok: queued as E2E{count:04d}"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=none"

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [r.message for r in self.received if address in r.recipients]

    def __enter__(self) -> MailCatcher:
        self.controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.controller.stop()


class ToolMissing(RuntimeError):
    """A command the test needs is not installed."""


def self_signed(host: str, folder: Path) -> ssl.SSLContext:
    """A server TLS context for ``host`` with a certificate made on the spot (never stored in
    the repository: a key in the source tree would be a key anyone has)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ToolMissing("openssl not found (Debian: apt-get install openssl)")
    cert, key = folder / "site-cert.pem", folder / "site-key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def skip_or_fail(reason: str) -> NoReturn:
    """Skip locally, fail in CI (where everything the test needs is installed)."""
    import pytest

    if in_ci():
        pytest.fail(f"required when CI is set: {reason}", pytrace=False)
    pytest.skip(reason)


class HttpsSite(Site):
    """The static test site, served over TLS on 127.0.0.1 with a certificate for ``host``
    (its origin is ``https://host:port``). The TLS handshake runs in each request's own thread,
    so a browser's idle pre-connection cannot hold up the accepting loop."""

    def __init__(self, pages: dict[str, str], folder: Path, host: str = "localhost") -> None:
        context = self_signed(host, folder)  # first: nothing is bound if this fails
        super().__init__(pages)
        self.host = host
        plain = self.httpd.finish_request

        def finish_request(request: socket.socket | tuple[bytes, socket.socket],
                           client_address: object) -> None:
            assert isinstance(request, socket.socket)
            try:
                tls = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a connection given up before or during the handshake
            try:
                plain(tls, client_address)  # type: ignore[arg-type]
            finally:
                tls.close()

        self.httpd.finish_request = finish_request  # type: ignore[method-assign]

    @property
    def origin(self) -> str:
        return f"https://{self.host}:{self.port}"

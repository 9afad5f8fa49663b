"""One SMTP connection to the relay, sending one message at a time and saying what happened.

aiosmtplib carries the protocol; this module drives the transaction step by step because the
ledger needs to know exactly where a fault happened: MAIL and RCPT are answered before anything
is committed; the worker's ``before_data`` callback runs between RCPT and DATA (the pre-DATA
suppression check and the ``sending`` mark); the body is written without its final dot first,
so a connection lost while streaming is known to be before the dot (safe to retry), and only a
reply lost after the dot is ``unknown``. The connection is kept for the next message (connection
reuse is worth 3-4x, PERFORMANCE.md) and dropped after any fault that leaves it out of step.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import cast

import aiosmtplib
from aiosmtplib import SMTPException, SMTPResponseException, SMTPServerDisconnected

from engine.delivery import classify
from engine.delivery.classify import Outcome, Phase
from engine.delivery.faults import crash_point
from engine.delivery.smtp_url import SmtpConfig

CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024  # bytes buffered in the transport before we wait for the socket

BeforeData = Callable[[], Awaitable[Outcome | None]]


class RateLimiter:
    """At most ``rate`` messages per second across all connections (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def tls_context(config: SmtpConfig) -> ssl.SSLContext:
    """Certificates are always verified; ``cafile`` adds a private CA."""
    return ssl.create_default_context(cafile=config.cafile)


class Connection:
    """A reusable connection; :meth:`send` never raises for SMTP or network faults."""

    def __init__(self, config: SmtpConfig, context: ssl.SSLContext | None) -> None:
        self.config = config
        self.context = context
        self.smtp: aiosmtplib.SMTP | None = None
        self.utf8 = False

    async def send(self, sender: str, recipient: str, data: bytes,
                   before_data: BeforeData) -> Outcome:
        phase: Phase = "connect"
        try:
            reused = self.smtp is not None and self.smtp.is_connected
            if not reused:
                refused = await self._open()
                if refused is not None:
                    return refused
            if not (sender + recipient).isascii() and not self.utf8:
                return Outcome("failed", "non-ASCII address and the relay does not offer "
                               "SMTPUTF8")
            phase = "mail"
            try:
                response = await self._mail(sender, recipient)
            except (SMTPServerDisconnected, ConnectionError):
                if not reused:
                    raise
                # The relay closed the idle connection (after its last reply, or a timeout):
                # nothing of this message was sent; open a fresh connection and start again.
                phase = "connect"
                refused = await self._open()
                if refused is not None:
                    return refused
                phase = "mail"
                response = await self._mail(sender, recipient)
            smtp = self.smtp
            assert smtp is not None
            if response.code != 250:
                return await self._refused(phase, response.code, response.message)
            phase = "rcpt"
            response = await smtp.execute_command(b"RCPT", f"TO:<{recipient}>".encode())
            if response.code not in (250, 251):
                return await self._refused(phase, response.code, response.message)
            stopped = await before_data()
            if stopped is not None:
                await self._reset()
                return stopped
            phase = "data_start"
            response = await smtp.execute_command(b"DATA")
            if response.code != 354:
                return await self._refused(phase, response.code, response.message)
            phase = "data_body"
            await self._write_body(data)
            phase = "data_end"
            assert smtp.protocol is not None
            smtp.protocol.write(b".\r\n")  # from here on, a lost reply is ambiguous
            response = await smtp.protocol.read_response(timeout=self.config.timeout)
            outcome = classify.reply(phase, response.code, response.message)
        except SMTPResponseException as error:  # e.g. an unreadable reply (code -1)
            if phase != "data_end":
                return await self._refused(phase, error.code, error.message)
            outcome = classify.reply(phase, error.code, error.message)
        except (TimeoutError, SMTPException, OSError, ValueError) as error:
            outcome = classify.fault(phase, error)
        if outcome.close:
            self.drop()
        return outcome

    async def _mail(self, sender: str, recipient: str) -> aiosmtplib.SMTPResponse:
        smtp = self.smtp
        assert smtp is not None
        options = [] if (sender + recipient).isascii() else [b"SMTPUTF8"]
        return await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode(), *options)

    async def _open(self) -> Outcome | None:
        """Connect, EHLO, STARTTLS if configured, AUTH if configured. None when ready."""
        config = self.config
        self.drop()
        smtp = aiosmtplib.SMTP(hostname=config.host, port=config.port, timeout=config.timeout,
                               use_tls=config.tls == "implicit", start_tls=False,
                               tls_context=self.context, local_hostname=config.helo)
        self.smtp = smtp
        phase: Phase = "connect"
        try:
            await smtp.connect()
            await smtp.ehlo()
            if config.tls == "starttls":
                phase = "tls"
                if not smtp.supports_extension("starttls"):
                    self.drop()
                    return Outcome("deferred", "the relay does not offer STARTTLS and the SMTP "
                                   "URL requires it: not sending in plain text", close=True,
                                   breaker=True, alert="tls")
                await smtp.starttls()
                await smtp.ehlo()
            if config.username:
                phase = "auth"
                await smtp.login(config.username, config.password or "")
        except SMTPResponseException as error:
            self.drop()
            return classify.reply(phase, error.code, error.message)
        except SMTPException as error:
            self.drop()
            if phase == "auth":
                return Outcome("released", f"sender configuration error: cannot authenticate: "
                               f"{error}", stop=True, alert="sender")
            return classify.fault(phase, error)
        except (TimeoutError, OSError) as error:
            self.drop()
            return classify.fault(phase, error)
        self.utf8 = smtp.supports_extension("smtputf8")
        return None

    async def _write_body(self, data: bytes) -> None:
        """Write the message without its final dot, waiting on the socket when the transport
        buffers too much; raise if the connection is lost before the dot could go."""
        smtp = self.smtp
        assert smtp is not None and smtp.protocol is not None and smtp.transport is not None
        protocol, transport = smtp.protocol, cast(asyncio.WriteTransport, smtp.transport)
        payload = memoryview(data)
        for start in range(0, len(payload), CHUNK):
            protocol.write(data if len(data) <= CHUNK else bytes(payload[start:start + CHUNK]))
            while transport.get_write_buffer_size() > HIGH_WATER:
                if not smtp.is_connected:
                    raise ConnectionResetError("the relay closed the connection during DATA")
                await asyncio.sleep(0.002)
        crash_point("mid_data")
        if _readable(transport):
            # The relay said something or hung up while the body was going out (it should be
            # silent until the dot): let the loop read it, so that a reset or EOF is known to
            # have come before the dot. Otherwise the dot follows at once.
            for _ in range(3):
                await asyncio.sleep(0)
        if not smtp.is_connected or transport.is_closing():
            raise ConnectionResetError("the relay closed the connection during DATA")

    async def _refused(self, phase: Phase, code: int, text: str) -> Outcome:
        outcome = classify.reply(phase, code, text)
        if outcome.close or outcome.stop:
            self.drop()
        elif phase in ("mail", "rcpt", "data_start"):
            await self._reset()
        return outcome

    async def _reset(self) -> None:
        """RSET after a refused envelope, so the connection can carry the next message."""
        if self.smtp is None:
            return
        try:
            response = await self.smtp.execute_command(b"RSET")
            if response.code != 250:
                self.drop()
        except (TimeoutError, SMTPException, OSError):
            self.drop()

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    async def close(self) -> None:
        """QUIT politely; a relay that has gone away is simply dropped."""
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await asyncio.wait_for(self.smtp.quit(), timeout=min(5.0, self.config.timeout))
            except (TimeoutError, SMTPException, OSError):
                pass
        self.drop()


def _readable(transport: asyncio.BaseTransport) -> bool:
    """Whether the connection's socket has something to read now (a reply, an EOF, a reset),
    without a turn of the event loop; True when it cannot tell."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return True
    try:
        ready, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)

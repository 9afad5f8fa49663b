"""A real SMTP server on 127.0.0.1 (aiosmtpd) with scripted faults, counting Message-IDs.

    with FaultSink() as sink:
        sink.script("a@example.com", rcpt=["451 4.7.1 greylisted", None])  # then accepted
        sink.script("b@example.com", data=["stall:2"])  # accepts, answers 2 s after the dot
        ... deliver to sink.url() ...
        sink.copies(message_id)                            # how many copies arrived

Scripts are per recipient and per attempt: each attempt consumes the first entry of a list
(``None``: behave normally). ``rcpt`` / ``mail`` entries are replies or ``stall:SECONDS``;
``data_cmd`` entries act on the DATA command (``disconnect_after_354``, ``drop_mid_data:N``
reads N bytes of the body then resets the connection, a reply such as ``451 4.3.0``);
``data`` entries act after the final dot (a reply, ``stall:SECONDS`` then 250, or
``250_then_disconnect``). A message counts as received when the server has read its final dot
and does not refuse it (also when it then stalls: the relay has it, the client cannot know).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from tests.pg import free_port

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.I | re.M)


@dataclass
class Received:
    message_id: str | None
    sender: str
    recipient: str
    content: bytes


class _Handler:
    def __init__(self, sink: FaultSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        self.sink.connections_seen.add(id(session))
        action = self.sink.next_action("*", "mail")
        if action is not None:
            reply = await _act(action)
            if reply:
                return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        action = self.sink.next_action(address, "rcpt")
        if action is not None:
            reply = await _act(action)
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = bytes(envelope.original_content or b"")
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        action = self.sink.next_action(recipient, "data")
        if action is not None and action[:1] in "45":
            return action
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        found = MESSAGE_ID.search(content)
        self.sink.record(Received(found.group(1).decode() if found else None,
                                  str(envelope.mail_from), recipient, content))
        if action is not None and action.startswith("stall:"):
            await asyncio.sleep(float(action.split(":", 1)[1]))
        if action == "250_then_disconnect":
            await server.push("250 2.0.0 Ok: queued as DISC0001")
            assert server.transport is not None
            server.transport.close()
            return "250 2.0.0 Ok"  # never seen: the connection is gone
        self.sink.queue_ids += 1
        return f"250 2.0.0 Ok: queued as Q{self.sink.queue_ids:06d}"


async def _act(action: str) -> str | None:
    if action.startswith("stall:"):
        await asyncio.sleep(float(action.split(":", 1)[1]))
        return None
    return action


class _FaultSMTP(SMTP):
    sink: FaultSink

    async def smtp_DATA(self, arg: str) -> None:
        recipient = self.envelope.rcpt_tos[0] if self.envelope and self.envelope.rcpt_tos else ""
        action = self.sink.next_action(recipient, "data_cmd")
        if action is None:
            await super().smtp_DATA(arg)
            return
        if action[:1] in "45":
            await self.push(action)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        if action.startswith("drop_mid_data"):
            wanted = int(action.split(":", 1)[1]) if ":" in action else 1024
            await self._reader.readexactly(wanted)
            transport = self.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # unread data pending: the peer sees a reset
            return
        assert self.transport is not None
        self.transport.close()  # disconnect_after_354


class FaultSink:
    def __init__(self, port: int | None = None, *, auth_ok: bool = True,
                 with_auth: bool = False, delay: float = 0.0, **smtp: Any) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.connections_seen: set[int] = set()
        self.scripts: dict[tuple[str, str], list[str | None]] = defaultdict(list)
        self.queue_ids = 0
        self.delay = delay
        self.auth_ok = auth_ok
        self._lock = threading.Lock()
        sink = self

        class Server(_FaultSMTP):
            pass

        Server.sink = sink

        class _Controller(Controller):
            def factory(self) -> SMTP:
                return Server(self.handler, **self.SMTP_kwargs)

        if with_auth:
            smtp.update(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      **smtp)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=self.auth_ok, handled=False)

    def url(self, **query: object) -> str:
        options = {"tls": "none", "timeout": 5, **query}
        return f"smtp://127.0.0.1:{self.port}?" + "&".join(f"{k}={v}" for k, v in options.items())

    def script(self, recipient: str, **phases: list[str | None]) -> None:
        for phase, actions in phases.items():
            self.scripts[(recipient, phase)].extend(actions)

    def next_action(self, recipient: str, phase: str) -> str | None:
        with self._lock:
            queue = self.scripts.get((recipient, phase))
            return queue.pop(0) if queue else None

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def copies(self, message_id: str | None = None) -> Counter[str | None]:
        with self._lock:
            return Counter(r.message_id for r in self.received
                           if message_id is None or r.message_id == message_id)

    def has(self, message_id: str) -> bool:
        return self.copies(message_id)[message_id] > 0

    def start(self) -> FaultSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> FaultSink:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

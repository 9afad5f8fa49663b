"""Built messages go through a real SMTP exchange (aiosmtplib to an aiosmtpd server on
127.0.0.1) and arrive byte for byte, readable by the stdlib parser."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from engine.mail.render import MailJob, Renderer
from tests.engine.mail.conftest import en_lead, ja_lead
from tests.pg import free_port


class _Keep:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos),
                              bytes(envelope.original_content or b"")))
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[_Keep, int]]:
    handler = _Keep()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_messages_arrive_intact(renderer: Renderer, sink: tuple[_Keep, int]) -> None:
    handler, port = sink
    built = [
        renderer.message(MailJob("dormant/intro.html", ja_lead(), "revive_dormant", "intro",
                                 outbox_id=1, sender_owner=True)),
        renderer.message(MailJob("journey/welcome.html", en_lead(), "buyer_journey", "welcome",
                                 outbox_id=2)),
        renderer.notification("alerts/revived.txt", ja_lead(), "revive_dormant", "notify",
                              "cs@example.co.jp"),
    ]

    async def send_all() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as smtp:
            for b in built:
                await smtp.sendmail(b.sender, [b.recipient], b.data)

    asyncio.run(send_all())
    assert [(s, r) for s, r, _ in handler.received] == [(b.sender, [b.recipient]) for b in built]
    for b, (_, _, data) in zip(built, handler.received, strict=True):
        assert data == b.data  # dot-stuffing undone, nothing added or lost
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert msg["Subject"] == b.subject and msg["Message-ID"] == b.message_id
        assert not msg.defects
        for part in msg.walk():
            assert not part.defects

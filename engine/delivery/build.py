"""The ``build`` callable the CLI hands to :func:`engine.delivery.deliver_due`: outbox rows made
into messages by engine.mail.render's Renderer.

    build = renderer_build(Renderer(settings, secret))
    deliver_due(engine, settings, build=build)

A ``send`` row becomes the flow's marketing message (``payload["sender_owner"]`` and
``payload["sender_address"]`` choose the From); an email ``notify`` row becomes the plain-text
alert to ``payload["to"]``. Both carry the row's deterministic Message-ID, and the message's
tracked links are signed for the row's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.delivery.message import Built

if TYPE_CHECKING:
    from engine.mail.render import Renderer

from engine.delivery.worker import Builder


def renderer_build(renderer: Renderer) -> Builder:
    from engine.mail.render import MailJob

    def build(row: Mapping[str, Any], lead: Mapping[str, Any]) -> Built:
        payload = row.get("payload") or {}
        if row["action"] == "notify":
            return renderer.notification(row["template"], lead, row["flow"], row["step"],
                                         to=payload.get("to"), message_id=row.get("message_id"))
        return renderer.message(MailJob(
            row["template"], lead, row["flow"], row["step"], outbox_id=int(row["id"]),
            message_id=row.get("message_id"), sender_owner=bool(payload.get("sender_owner")),
            sender_address=payload.get("sender_address")))

    return build

"""Webhook notifications: a JSON POST to the URL a flow's ``notify`` names.

Retried with backoff inside the run on 5xx, 408, 429 and connection faults, then deferred in the
ledger like any temporary failure; any other 4xx fails the notification (the receiver will not
change its mind). A timeout is retried too: webhooks are at-least-once by nature, so every POST
carries an ``Idempotency-Key`` (the row's Message-ID) for receivers to drop repeats. Redirects
are not followed (a POST turned into a GET elsewhere is not a delivery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from engine.delivery.classify import Outcome

LEAD_FIELDS = ("id", "email", "first_name", "last_name", "company", "title", "stage", "owner",
               "country")


def body(row: Mapping[str, Any], lead: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a webhook receives: which flow and step fired, for which lead."""
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "id": row.get("message_id") or f"outbox-{row['id']}",
        "flow": row["flow"],
        "step": row["step"],
        "occurrence": row["occurrence"],
        "template": row.get("template"),
        "created_at": plain(row.get("created_at")),
        "lead": {k: plain(lead.get(k)) for k in LEAD_FIELDS} if lead else None,
    }


async def post(client: httpx.AsyncClient, url: str, payload: dict[str, Any], key: str,
               tries: int, backoff: float) -> Outcome:
    if not url.startswith(("http://", "https://")):
        return Outcome("failed", f"webhook URL {url!r} is not http(s)")
    outcome = Outcome("deferred", "webhook not tried")
    for attempt in range(max(1, tries)):
        if attempt:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = await client.post(url, json=payload, headers={"Idempotency-Key": key},
                                         follow_redirects=False)
        except httpx.HTTPError as error:
            outcome = Outcome("deferred", f"webhook {type(error).__name__}: {error}".strip())
            continue
        code, text = response.status_code, response.text[:200]
        if 200 <= code < 300:
            return Outcome("sent", "webhook accepted", code=code, text=text)
        if code >= 500 or code in (408, 429):
            hint = response.headers.get("retry-after", "")
            outcome = Outcome("deferred", f"webhook answered {code}", code=code, text=text,
                              retry_after=float(hint) if hint.isdigit() else None)
            continue
        return Outcome("failed", f"webhook answered {code}: not retried", code=code, text=text)
    return outcome

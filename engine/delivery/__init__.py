"""Delivery: the outbox rows the runtime writes, handed to an SMTP relay, a mail folder or a
webhook, with every step recorded in the outbox (the delivery ledger). docs/delivery.md tells
the guarantee, the state machine, the retry policy and how to reconcile ``unknown`` outcomes.

    report = deliver_due(engine, settings, build=renderer_build)
    print(report.summary())        # "delivery: 120 sent, 3 deferred in 1.4 s"

``build(row, lead)`` turns an outbox row (a dict of its columns) and its lead (a dict) into a
built message (engine.delivery.message.Built); ``gate(conn, rows, now)`` is the policy gate
(engine.delivery.gate). Without ``settings.smtp_url`` messages go to ``settings.mail_dir`` as
``.eml`` files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import ledger
from engine.delivery.folder import Folder
from engine.delivery.gate import ALLOW, Gate, Verdict, block, default_gate, defer
from engine.delivery.policy import RetryPolicy, WorkerOptions
from engine.delivery.report import DeliveryReport
from engine.delivery.smtp_url import SmtpConfig, parse_smtp_url
from engine.delivery.worker import Builder, Run
from engine.store.db import write_transaction

__all__ = ["ALLOW", "DeliveryReport", "RetryPolicy", "Verdict", "WorkerOptions", "block",
           "default_gate", "defer", "deliver_due", "deliver_due_async", "outstanding",
           "parse_smtp_url", "reconcile_unknown"]


def transport_for(settings: Settings) -> SmtpConfig | Folder:
    """The relay of ``settings.smtp_url``, else the mail folder ``settings.mail_dir``."""
    if settings.smtp_url:
        return parse_smtp_url(settings.smtp_url)
    return Folder(settings.mail_dir)


async def deliver_due_async(engine: sa.Engine, settings: Settings, *, build: Builder,
                            gate: Gate | None = None, now: datetime | None = None,
                            limit: int | None = None,
                            worker: WorkerOptions | None = None) -> DeliveryReport:
    """:func:`deliver_due` for callers already inside an event loop."""
    run = Run(engine, transport=transport_for(settings), build=build, gate=gate, now=now,
              limit=limit, options=worker or WorkerOptions.from_environ())
    return await run.run()


def deliver_due(engine: sa.Engine, settings: Settings, *, build: Builder,
                gate: Gate | None = None, now: datetime | None = None, limit: int | None = None,
                worker: WorkerOptions | None = None) -> DeliveryReport:
    """Deliver every due ``send`` and ``notify`` row (claiming batch after batch until none is
    left, or ``limit`` rows were claimed) and return the counts per status.

    ``now`` decides what is due and stamps retry times and sent times (default: the database's
    clock; the policy gate's caps count sends by their sent time); leases always use the
    database's clock. ``worker`` sets the worker's id, batch, lease, retry policy
    and unknown policy (default: :meth:`WorkerOptions.from_environ`).
    """
    return asyncio.run(deliver_due_async(engine, settings, build=build, gate=gate, now=now,
                                         limit=limit, worker=worker))


def reconcile_unknown(engine: sa.Engine, delivered: Callable[[str], bool | None],
                      now: datetime | None = None) -> dict[str, int]:
    """Settle ``unknown`` rows against the relay's record of Message-IDs (its logs, or an ESP's
    message search): True -> sent, False -> pending (resent with the same Message-ID),
    None -> left unknown. Returns counts."""
    with write_transaction(engine) as conn:
        at = ledger.db_now(conn)
        return ledger.reconcile_unknown(conn, delivered, now or at, at)


def outstanding(engine: sa.Engine, flows: list[str] | None = None) -> int:
    """How many send/notify rows are not settled yet (0: every intent reached a final state or
    ``unknown``; invariant I6)."""
    with engine.connect() as conn:
        return ledger.outstanding(conn, flows)

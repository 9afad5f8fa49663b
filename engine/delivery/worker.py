"""One delivery run: claim due outbox rows, screen them, build them, send them, record each.

A producer claims batches and builds messages while consumers send: one consumer per reused SMTP
connection (or one writing the mail folder) and a few for webhooks. Every database step runs on
the ledger thread (engine.delivery.committer), never holding a transaction open across network
I/O (RELIABILITY.md 2.2 rule 2). A consumer marks a chunk of its messages ``sending`` in one
durable commit, right after their last suppression check, then sends them in turn; results are
queued without waiting, one compare-and-set per row, and commit in batches within about 40 ms,
usually together with other chunks' marks. Messages are built on the event loop's thread, a
few chunks ahead of the connections, with a turn of the loop every 0.5 ms of building.
Every recipient's result stands alone (invariant I5): one bad recipient or one lost reply never
changes, rolls back or replays another row. docs/delivery.md says what a crash can leave.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from engine.delivery import gate as gates
from engine.delivery import ledger, webhook
from engine.delivery.classify import Outcome
from engine.delivery.committer import Committer
from engine.delivery.faults import crash_point
from engine.delivery.folder import Folder
from engine.delivery.message import Built, envelope_problem, smtp_payload
from engine.delivery.policy import WorkerOptions
from engine.delivery.report import DeliveryReport
from engine.delivery.smtp import Connection, RateLimiter, tls_context
from engine.delivery.smtp_url import SmtpConfig
from engine.store.emails import email_hash

log = logging.getLogger("engine.delivery")
T = TypeVar("T")
Builder = Callable[[Mapping[str, Any], Mapping[str, Any]], Built]
BLOCK_STATUSES = ("suppressed", "failed", "cancelled")
TICK = timedelta(microseconds=1)
BUILD_SLICE = 0.0005  # seconds of building between two turns of the event loop
MARK_LINGER = 0.005  # seconds a chunk's mark may wait for company while another chunk is sent


@dataclass(slots=True)
class Job:
    row: dict[str, Any]
    lead: dict[str, Any] | None
    built: Built | None = None  # None: a webhook
    data: bytes = b""
    status: str = "claimed"  # what the ledger says now (claimed, then sending)
    settled: bool = False  # already recorded by the pre-DATA step
    address: str | None = None  # the recipient as the ledger knew it at claim, and its hash
    hashed: str | None = None

    @property
    def id(self) -> int:
        return int(self.row["id"])


def is_template_error(error: BaseException) -> bool:
    """The builder's own failures (engine.mail.render.TemplateError, Jinja's errors) fail one
    message; any other exception is a bug and stops the run."""
    return any(cls.__name__ == "TemplateError" for cls in type(error).__mro__)


class Run:
    def __init__(self, engine: sa.Engine, *, transport: SmtpConfig | Folder, build: Builder,
                 gate: gates.Gate | None, now: datetime | None, limit: int | None,
                 options: WorkerOptions) -> None:
        self.engine = engine
        self.transport = transport
        self.build = build
        self.gate = gate or gates.default_gate
        self.fixed_now = now
        self.limit = limit
        self.options = options
        self.me = options.id
        self.lease = timedelta(seconds=options.lease_seconds)
        self.report = DeliveryReport()
        self.offset = timedelta(0)
        self.last_instant = datetime.min.replace(tzinfo=UTC)
        self.instants = threading.Lock()
        self.halt: Outcome | None = None
        self.committer = Committer(engine)
        self.inflight: list[asyncio.Future[Any]] = []  # results not awaited yet
        self.sent_buffer: list[tuple[Job, Outcome, datetime]] = []  # 2xx not queued yet
        self.consuming = True
        pool = options.pool or (transport.pool if isinstance(transport, SmtpConfig) else 1)
        self.consumers = pool if isinstance(transport, SmtpConfig) else 1
        self.live = self.consumers
        self.limiter = RateLimiter(transport.rate if isinstance(transport, SmtpConfig) else 0.0)
        # Built messages waiting for a connection: a few chunks per connection, so that building
        # keeps just ahead of sending, a message at a time, instead of a whole batch at once.
        self.mail: asyncio.Queue[Job | None] = asyncio.Queue(
            max(64, 4 * options.sending_chunk * self.consumers))
        self.hooks: asyncio.Queue[Job | None] = asyncio.Queue(
            2 * options.batch + options.webhook_concurrency)

    # ------------------------------------------------------------ clocks and the ledger thread

    def clock(self) -> datetime:
        """The database's time, estimated from one reading at the start of the run; never the
        same instant twice (a batch's rows are read back by their ``updated_at``)."""
        with self.instants:  # the event loop's thread and the ledger thread both ask
            now = max(datetime.now(UTC) + self.offset, self.last_instant + TICK)
            self.last_instant = now
        return now

    def due(self) -> datetime:
        return self.fixed_now or self.clock()

    def sent_time(self, at: datetime) -> datetime:
        """A send's ``sent_at``: the run's fixed time when it has one (`--at`), since the caps
        count sends by it against that same clock; else the database's time of the send."""
        return self.fixed_now or at

    async def db(self, fn: Callable[..., T], *args: Any, alone: bool = False) -> T:
        return await self.committer.run(fn, *args, alone=alone)

    # ------------------------------------------------------------ the run

    async def run(self) -> DeliveryReport:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self.db(self._start)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._produce())
                group.create_task(self._flusher())
                consumers = [group.create_task(self._consume_mail())
                             for _ in range(self.consumers)]
                consumers += [group.create_task(self._consume_hooks())
                              for _ in range(self.options.webhook_concurrency)]
                try:
                    await asyncio.gather(*consumers)
                finally:
                    self.consuming = False
            await asyncio.gather(*self.inflight)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # the one failure, not a wrapper around it
                raise group.exceptions[0] from None
            raise
        finally:
            self.committer.close()
        self.report.seconds = loop.time() - started
        return self.report

    def _start(self, conn: sa.Connection) -> None:
        """Settle what earlier runs left: expired leases, and unknown outcomes where policy or
        the transport allow."""
        self.offset = ledger.db_now(conn) - datetime.now(UTC)
        back, unknown = ledger.reap(conn)
        self.report.reaped_to_pending, self.report.reaped_to_unknown = back, len(unknown)
        for row_id, message_id in unknown:
            self._alert(conn, "unknown", message_id, {"outbox_id": row_id, "reason":
                        "lease expired while sending: reconcile by Message-ID"})
        if isinstance(self.transport, Folder):
            folder = self.transport
            at = self.clock()
            settled = ledger.reconcile_unknown(conn, folder.has, self.due(), at,
                                               sent_at=self.sent_time(at))
            self.report.reconciled = settled["sent"] + settled["pending"]
        if self.options.at_least_once:
            self.report.resent_unknown = ledger.requeue_unknown(conn, self.due(), self.clock())

    async def _produce(self) -> None:
        claimed = 0
        try:
            while self.halt is None:
                size = self.options.batch
                if self.limit is not None:
                    size = min(size, self.limit - claimed)
                if size <= 0:
                    break
                rows = await self.db(ledger.claim, self.me, size, self.due(), self.lease)
                if not rows:
                    break
                crash_point("after_claim_commit")
                claimed += len(rows)
                self.report.claimed += len(rows)
                allowed = await self.db(self._screen, rows, alone=True)
                await self._queue(allowed)
        finally:
            for _ in range(self.consumers):
                await self.mail.put(None)
            for _ in range(self.options.webhook_concurrency):
                await self.hooks.put(None)

    async def _queue(self, allowed: list[Job]) -> None:
        """Build each message and queue it for the connections. Building is CPU work on the
        event loop's thread: a batch built in one go would stall every connection (and leave
        the relay idle) for its whole duration, so the loop gets a turn every
        ``BUILD_SLICE`` seconds to read replies and send the next commands."""
        loop = asyncio.get_running_loop()
        turn = loop.time() + BUILD_SLICE
        for index, job in enumerate(allowed):
            if loop.time() >= turn:
                await asyncio.sleep(0)
                turn = loop.time() + BUILD_SLICE
            try:
                ready = self._prepare(job)
            except BaseException:
                await self.db(self._give_back_all, allowed[index:], "the message builder failed "
                              "unexpectedly: released unsent")
                raise
            if isinstance(ready, Outcome):
                await self._settle(job, ready)
            elif job.built is None:
                await self.hooks.put(job)
            else:
                await self.mail.put(job)

    def _prepare(self, job: Job) -> Job | Outcome:
        payload = job.row.get("payload") or {}
        if job.row["action"] == "notify" and payload.get("channel") == "webhook":
            return job
        try:
            built = self.build(job.row, job.lead or {})
        except Exception as error:
            if not is_template_error(error):
                raise
            return Outcome("failed", f"template error: {type(error).__name__}: {error}")
        problem = envelope_problem(built, job.row.get("message_id"))
        if problem:
            return Outcome("failed", problem, alert="refused")
        job.built = built
        job.data = smtp_payload(built.data) if isinstance(self.transport, SmtpConfig) \
            else bytes(built.data)
        return job

    # ------------------------------------------------------------ consumers

    async def _consume_mail(self) -> None:
        """One connection: take a chunk of messages, mark them ``sending`` after their last
        suppression check (one durable commit for the chunk), send them one by one, and queue
        each result without waiting for its commit. While a chunk is being sent, the messages
        already queued behind it are marked (double buffering), so the connection does not
        wait for the disk between chunks."""
        relay = self.transport if isinstance(self.transport, SmtpConfig) else None
        folder = self.transport if isinstance(self.transport, Folder) else None
        connection = None if relay is None else Connection(
            relay, tls_context(relay) if relay.tls != "none" else None)
        marking: asyncio.Future[list[Outcome | None]] | None = None
        chunk: list[Job] = []
        ended = leaving = False
        try:
            while True:
                if marking is None:
                    if ended or leaving:
                        break
                    chunk, ended = await self._take()
                    if not chunk:
                        break
                    marking = self._mark(chunk, ahead=False)
                ready, current, marking = await marking, chunk, None
                if not (ended or leaving):
                    chunk, ended = self._take_now()
                    marking = self._mark(chunk, ahead=True) if chunk else None
                for job in (j for j, stopped in zip(current, ready, strict=True)
                            if stopped is None):
                    if self.halt is not None:
                        await self._settle(job, self.halt, wait=False)
                        continue
                    outcome = await self._deliver(job, connection, folder)
                    await self._after(job, outcome)
                    if outcome.code == 421 and self.live > 1 and not leaving:
                        self.live -= 1  # the relay wants fewer connections: this one stops
                        leaving = True  # (after the messages it has marked)
        finally:
            if connection is not None:
                await connection.close()

    def _mark(self, chunk: list[Job], ahead: bool) -> asyncio.Future[list[Outcome | None]]:
        """Queue the chunk's pre-DATA step. ``ahead``: the connection is about to send
        another chunk first, so the step may wait a few milliseconds to share its commit
        with the other connections' marks and the results (fewer disk syncs)."""
        return asyncio.wrap_future(self.committer.submit(
            self._mark_chunk, chunk, urgent=not ahead, linger=MARK_LINGER))

    async def _take(self) -> tuple[list[Job], bool]:
        """Up to ``sending_chunk`` queued messages (waiting for the first only); True when the
        end-of-work marker was reached."""
        first = await self.mail.get()
        if first is None:
            return [], True
        chunk, ended = self._take_now(1)
        return [first, *chunk], ended

    def _take_now(self, have: int = 0) -> tuple[list[Job], bool]:
        chunk: list[Job] = []
        while have + len(chunk) < self.options.sending_chunk:
            try:
                job = self.mail.get_nowait()
            except asyncio.QueueEmpty:
                break
            if job is None:
                return chunk, True
            chunk.append(job)
        return chunk, False

    async def _deliver(self, job: Job, connection: Connection | None,
                       folder: Folder | None) -> Outcome:
        built = job.built
        assert built is not None
        if folder is not None:
            return folder.write(job.data, job.row.get("message_id") or built.message_id,
                                f"outbox-{job.id}")
        assert connection is not None
        await self.limiter.wait()
        return await connection.send(built.sender, built.recipient, job.data, _go_ahead)

    async def _consume_hooks(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=self.options.webhook_timeout) as client:
            while (job := await self.hooks.get()) is not None:
                [stopped] = await self.db(self._mark_chunk, [job])
                if stopped is not None:
                    await self._settle(job, stopped)
                    continue
                payload = job.row.get("payload") or {}
                key = job.row.get("message_id") or f"outbox-{job.id}"
                outcome = await webhook.post(client, str(payload.get("url", "")),
                                             webhook.body(job.row, job.lead), key,
                                             self.options.webhook_tries,
                                             self.options.webhook_backoff)
                await self._settle(job, outcome)

    async def _after(self, job: Job, outcome: Outcome) -> None:
        if outcome.status == "sent":
            crash_point("after_250_before_commit")
        if outcome.breaker or outcome.stop:
            if self.halt is None:
                self.halt = self._halt_for_others(outcome)
                self.report.stopped = outcome.reason
            else:  # another connection hit the same wall at the same time: one alert is enough
                outcome = replace(outcome, alert=None)
        await self._settle(job, outcome, wait=False)

    @staticmethod
    def _halt_for_others(outcome: Outcome) -> Outcome:
        if outcome.stop:
            return Outcome("released", f"not tried: {outcome.reason}")
        return Outcome("deferred", f"not tried: {outcome.reason}", retry_after=outcome.retry_after)

    # ------------------------------------------------------------ ledger steps (ledger thread)

    def _screen(self, conn: sa.Connection, rows: list[gates.RowView]) -> list[Job]:
        """Claim-time checks: age, payload, suppressions (always), then the policy gate."""
        due, at = self.due(), self.clock()
        people = gates.load_leads(conn, (r["lead_id"] for r in rows))
        addresses = {r["id"]: gates.email_recipient(r, people.get(r["lead_id"])) for r in rows}
        hashes = {i: email_hash(a) for i, a in addresses.items() if a}
        blocked = ledger.suppressed_among(conn, sorted(set(hashes.values())))
        verdicts: dict[int, gates.Verdict | Outcome] = {}
        for row in rows:
            problem = _row_problem(row, people.get(row["lead_id"]))
            if problem:
                verdicts[row["id"]] = Outcome("failed", problem)
            elif self.options.retry.expired(row["created_at"], due):
                verdicts[row["id"]] = Outcome("failed", "expired before it could be sent "
                                              "(max age)")
            elif hashes.get(row["id"]) in blocked:
                verdicts[row["id"]] = gates.block("suppressed address (checked at claim)")
        undecided = [r for r in rows if r["id"] not in verdicts and r["action"] == "send"]
        if undecided and self.gate is gates.default_gate:  # suppressions were checked above
            verdicts.update(gates.consent_verdicts(undecided, people))
        elif undecided:
            answers = self.gate(conn, undecided, due)
            verdicts.update({int(k): gates.as_verdict(v) for k, v in answers.items()})
        allowed: list[Job] = []
        for row in rows:
            verdict = verdicts.get(row["id"], gates.ALLOW)
            job = Job(row, people.get(row["lead_id"]), address=addresses[row["id"]],
                      hashed=hashes.get(row["id"]))
            if isinstance(verdict, Outcome):
                self._record(conn, job, verdict, at)
            elif verdict.kind == "allow":
                allowed.append(job)
            elif verdict.kind == "defer":
                until = max(verdict.until or due, due + timedelta(seconds=1))
                if ledger.give_back(conn, job.id, self.me, "deferred",
                                    f"held by policy: {verdict.reason}", until, at):
                    self.report.add("deferred")
            else:
                status = verdict.status if verdict.status in BLOCK_STATUSES else "suppressed"
                if ledger.move(conn, job.id, "claimed", self.me, status=status,
                               reason=verdict.reason, lease_until=None, updated_at=at):
                    self.report.add(status if status in self.report.counts else "suppressed")
        return allowed

    def _mark_chunk(self, conn: sa.Connection, jobs: list[Job]) -> list[Outcome | None]:
        """The last suppression check before DATA (I7), then ``claimed -> sending`` for each
        message, with its links stored for the tracking server. An Outcome means: do not send
        (already recorded)."""
        at = self.clock()
        hashes = [None if j.built is None else j.hashed if j.built.recipient == j.address
                  else email_hash(j.built.recipient) for j in jobs]
        blocked = ledger.suppressed_among(conn, [h for h in hashes if h is not None])
        answers: list[Outcome | None] = []
        for job, hashed in zip(jobs, hashes, strict=True):
            recipient = job.built.recipient if job.built is not None else None
            if recipient is not None and hashed in blocked:
                reason = gates.suppression_reason(conn, recipient)
                done = ledger.move(conn, job.id, "claimed", self.me, status="suppressed",
                                   reason=f"suppressed ({reason}) just before DATA",
                                   lease_until=None, updated_at=at)
                job.settled = True
                self.report.add("suppressed" if done else "lost")
                answers.append(Outcome("suppressed", f"suppressed ({reason})"))
                continue
            answers.append(None)
        changes = []
        for job, answer in zip(jobs, answers, strict=True):
            if answer is None:
                payload = dict(job.row.get("payload") or {})
                if job.built is not None:
                    payload["links"] = list(job.built.links)
                changes.append({"id": job.id, "payload": payload})
        moved = ledger.move_many(conn, "claimed", self.me, changes, ("payload",),
                                 {"status": "sending", "lease_until": at + self.lease,
                                  "updated_at": at})
        for index, job in enumerate(jobs):
            if answers[index] is not None:
                continue
            if job.id in moved:
                job.status = "sending"
            else:
                job.settled = True
                self.report.add("lost")
                answers[index] = Outcome("released", "the claim was lost (lease expired)")
        return answers

    async def _settle(self, job: Job, outcome: Outcome, wait: bool = True) -> None:
        """Record the outcome. ``wait=False``: the consumer goes on with its next message while
        the result commits (a 2xx joins the batch of results flushed every 20 ms or 64
        results); the run awaits every such result before it returns."""
        if job.settled:
            return
        if outcome.status == "sent" and not wait and job.status == "sending":
            self.sent_buffer.append((job, outcome, self.clock()))
            if len(self.sent_buffer) >= 64:
                self._flush()
            return
        future = asyncio.wrap_future(self.committer.submit(self._record, job, outcome, None,
                                                           urgent=wait))
        if wait:
            await future
            return
        self._keep(future)

    def _keep(self, future: asyncio.Future[Any]) -> None:
        if len(self.inflight) > 1000:
            self.inflight = [f for f in self.inflight if not f.done() or f.exception()]
        self.inflight.append(future)

    def _flush(self) -> None:
        """Queue the buffered 2xx results as one step (one executemany)."""
        if not self.sent_buffer:
            return
        batch, self.sent_buffer = self.sent_buffer, []
        future = asyncio.wrap_future(self.committer.submit(self._record_sent, batch,
                                                           urgent=False))
        future.add_done_callback(_after_sent_commit)
        self._keep(future)

    async def _flusher(self) -> None:
        while self.consuming:
            await asyncio.sleep(0.02)
            self._flush()
        self._flush()

    def _record_sent(self, conn: sa.Connection,
                     batch: list[tuple[Job, Outcome, datetime]]) -> None:
        changes = [{"id": job.id, "sent_at": self.sent_time(at), "relay_id": outcome.relay_id,
                    "last_reply_code": outcome.code, "last_reply_text": (outcome.text or "")[:1000],
                    "reason": outcome.reason} for job, outcome, at in batch]
        columns = ("sent_at", "relay_id", "last_reply_code", "last_reply_text", "reason")
        moved = ledger.move_many(conn, "sending", self.me, changes, columns,
                                 {"status": "sent", "lease_until": None,
                                  "updated_at": self.clock()})
        for job, outcome, at in batch:
            if job.id in moved:
                self.report.add("sent")
            else:  # the lease ran out meanwhile: the per-row path knows what to do
                self._record(conn, job, outcome, at)

    def _record(self, conn: sa.Connection, job: Job, outcome: Outcome,
                at: datetime | None) -> None:
        at = at or self.clock()
        values: dict[str, Any] = {"reason": outcome.reason[:1000], "lease_until": None,
                                  "updated_at": at}
        if outcome.code is not None:
            values.update(last_reply_code=outcome.code, last_reply_text=(outcome.text or "")[:1000])
        status, suppress = outcome.status, outcome.suppress
        if status == "released":
            moved = ledger.give_back(conn, job.id, self.me, "pending", outcome.reason, None, at,
                                     expected=job.status)
        else:
            if status == "deferred":
                due = self.due()
                attempts = int(job.row["attempts"])
                stop = self.options.retry.give_up(attempts, job.row["created_at"], due)
                if stop:
                    status, suppress = "failed", outcome.soft_permanent
                    values["reason"] = f"{stop}; last: {outcome.reason}"[:1000]
                else:
                    values["next_attempt_at"] = due + self.options.retry.delay(
                        attempts, outcome.retry_after)
            values["status"] = status
            if status == "sent":
                values.update(sent_at=self.sent_time(at), relay_id=outcome.relay_id)
                moved = ledger.finish_sent(conn, job.id, job.status, self.me, values)
            else:
                moved = ledger.move(conn, job.id, job.status, self.me, **values)
        if not moved:
            self.report.add("lost")
            log.warning("outbox %s: %s, but the row had moved on (lease lost): recorded nothing",
                        job.id, status)
            return
        self.report.add(status)
        recipient = job.built.recipient if job.built is not None else None
        if suppress and recipient:
            ledger.add_suppression(conn, recipient, "bounce", "smtp", outcome.reason, at)
        if outcome.alert or status == "unknown":
            self._alert(conn, outcome.alert or "unknown", job.row.get("message_id"),
                        {"outbox_id": job.id, "status": status, "reason": outcome.reason,
                         "code": outcome.code})

    def _give_back_all(self, conn: sa.Connection, jobs: list[Job], reason: str) -> None:
        at = self.clock()
        for job in jobs:
            if ledger.give_back(conn, job.id, self.me, "pending", reason, None, at):
                self.report.add("released")

    def _alert(self, conn: sa.Connection, kind: str, subject: str | None,
               details: dict[str, Any]) -> None:
        ledger.add_alert(conn, kind, subject, details, self.clock())
        message = f"delivery alert ({kind}) {subject or ''}: {details.get('reason', '')}"
        self.report.alerts.append(message)
        log.warning(message)


async def _go_ahead() -> None:
    """The pre-DATA step ran for the whole chunk already (:meth:`Run._mark_chunk`)."""
    return None


def _after_sent_commit(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        crash_point("after_sent_commit")


def _row_problem(row: Mapping[str, Any], lead: Mapping[str, Any] | None) -> str | None:
    """A row the worker cannot deliver whatever happens (a runtime bug, reported plainly)."""
    payload = row.get("payload") or {}
    if row["action"] == "notify":
        channel = payload.get("channel")
        if channel == "email" and not payload.get("to"):
            return "email notification without payload['to']"
        if channel == "webhook" and not payload.get("url"):
            return "webhook notification without payload['url']"
        if channel not in ("email", "webhook"):
            return f"notification channel {channel!r} is neither email nor webhook"
    elif lead is None:
        return f"lead {row['lead_id']} not found"
    return None

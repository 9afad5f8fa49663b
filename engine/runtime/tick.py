"""One tick of one flow at T: exits and goals, new entries, then every due enrollment advanced
step by step until it waits. Set-based throughout: conditions run as compiled SQL over batches of
leads (engine.conditions.compile), never as a Python loop over the lead store.

    Tick(unit, flow_runtime, folder, at).run()  -> TickReport

Every effect (an email, a notification, a hand-off) is an outbox row written in the same
transaction as the enrollment's new state, with the unique key (flow, enrollment, step,
occurrence) (invariant I1: inserted with ON CONFLICT DO NOTHING). Each batch of enrollments is
one transaction (``Unit.commit``): a crash loses at most the batch in hand, which the next tick
redoes from the state the database kept. Enrollments are claimed with FOR UPDATE SKIP LOCKED on
PostgreSQL (two engine processes share the work) and under SQLite's write lock
(``BEGIN IMMEDIATE``); their update is a compare-and-set on ``revision``.

The journal records every transition and its reason (which condition, which branch, which
timeout), for `engine explain` and reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from dsl import ast as A
from dsl.checks.walk import nodes
from dsl.formatter import condition as condition_text
from dsl.formatter import duration as duration_text
from engine.conditions import model as M
from engine.conditions.compile import Compiled, compile_condition, compile_together
from engine.conditions.plan import FixedPlanner
from engine.conditions.reference import Interpreter
from engine.conditions.rows import attribute_columns, lead_from_row
from engine.mail.tokens import message_id
from engine.runtime.model import FlowRuntime, Folder
from engine.runtime.program import Instr
from engine.store.db import among, unindexed
from engine.store.prepared import Columnwise
from engine.store.schema import (
    enrollments,
    events,
    flow_versions,
    journal,
    lead_tags,
    leads,
    outbox,
    settings,
)

BATCH = 500
PER_LEAD = FixedPlanner(False)
# The compare-and-set of an enrollment: the SET columns come from each parameter set.
JOURNAL_COLUMNS = ("at", "flow", "enrollment_id", "lead_id", "step", "event", "details")
INTENT_COLUMNS = ("flow", "enrollment_id", "step", "occurrence", "lead_id", "flow_version",
                  "action", "template", "payload", "message_id", "status", "attempts",
                  "next_attempt_at", "created_at", "updated_at")


# The tick's writes, one row per enrollment step: compiled once and run through the driver's
# executemany (SQLAlchemy's per-row parameter handling was a quarter of the stepping's time);
# on PostgreSQL a batch's rows as one statement (engine.store.prepared.Columnwise).
JOURNAL_INSERT = Columnwise(journal, JOURNAL_COLUMNS)
INTENT_INSERT = Columnwise(outbox, INTENT_COLUMNS, on_conflict_do_nothing=True)
_CAS: dict[tuple[str, ...], Columnwise] = {}


def compare_and_set(columns: tuple[str, ...]) -> Columnwise:
    """``UPDATE enrollments SET <columns> WHERE id = :_id AND revision = :_revision``."""
    found = _CAS.get(columns)
    if found is None:
        found = _CAS[columns] = Columnwise(enrollments, columns,
                                           match=(("_id", "id"), ("_revision", "revision")))
    return found


MAX_STEPS = 200  # per enrollment and tick: a flow cannot loop without waiting (rounds wait)
FIRST_TRIGGER_WINDOW = dt.timedelta(days=1)  # `enter on`: how far back the first tick looks
LIVE = ("active", "waiting")


class ConcurrentChange(RuntimeError):
    """An enrollment changed under us (another process): the batch is rolled back and redone."""


@dataclass
class Unit:
    """Where a tick's work goes: ``commit`` after each batch (`engine run`), or nothing at all
    until the caller rolls everything back (`engine plan`, `engine simulate`)."""

    conn: Connection
    durable: bool = True

    def commit(self) -> None:
        if self.durable:
            self.conn.commit()


@dataclass
class TickReport:
    flow: str
    entered: int = 0
    exited: int = 0
    goals: int = 0
    advanced: int = 0
    moved: int = 0
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class Enr:
    """One enrollment while a batch advances it."""

    id: int
    lead_id: int
    label: str
    state: str
    wake_at: dt.datetime | None
    waiting_for: dict[str, Any] | None
    counters: dict[str, Any]
    revision: int
    pc: int = -1
    resuming: bool = True  # waiting at a wait when woken: the wait decides whether it is over
    running: bool = True
    end: tuple[str, str] | None = None  # (state, reason)
    changed: bool = False


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


class Tick:
    def __init__(self, unit: Unit, fr: FlowRuntime, folder: Folder, at: dt.datetime,
                 secret: bytes, domain: str, batch: int = BATCH) -> None:
        self.unit = unit
        self.conn = unit.conn
        self.fr = fr
        self.folder = folder
        self.at = M.utc(at)
        self.secret = secret
        self.domain = domain
        self.batch = batch
        self.report = TickReport(fr.name)
        self._journal: list[dict[str, Any]] = []  # rows for the journal, inserted at commit
        self.program = fr.program
        self.version = 0
        self.dialect = self.conn.dialect.name

    # ------------------------------------------------------------ the tick

    def run(self) -> TickReport:
        self.version = self.ensure_version()
        self.commit()
        self.check_exits()
        self.check_goal()
        self.enter()
        self.advance_all()
        self.remember_tick()
        self.commit()
        return self.report

    def commit(self) -> None:
        """End of a unit of work: the journal rows written so far go in (one statement), then
        the transaction commits (`engine run`) or stays open (plan, simulate)."""
        self.flush_journal()
        self.unit.commit()

    # ------------------------------------------------------------ versions

    def ensure_version(self) -> int:
        """The flow's current version (a new one when its text changed), and live enrollments
        brought to it: kept at their step where the label still exists, else moved as the flow
        says (`move "OLD" to NEW`), else exited with the reason."""
        conn, fr = self.conn, self.fr
        latest = conn.execute(
            sa.select(flow_versions.c.version, flow_versions.c.source_sha256)
            .where(flow_versions.c.flow == fr.name)
            .order_by(flow_versions.c.version.desc()).limit(1)).first()
        if latest is not None and latest.source_sha256 == fr.sha:
            version = int(latest.version)
        else:
            version = (int(latest.version) + 1) if latest is not None else 1
            conn.execute(_insert(conn, flow_versions).values(
                flow=fr.name, version=version, source_sha256=fr.sha, source=fr.source,
                path=fr.flow.span.file, created_at=self.at).on_conflict_do_nothing())
        stale = conn.execute(
            sa.select(enrollments.c.id, enrollments.c.lead_id, enrollments.c.step,
                      enrollments.c.revision)
            .where(enrollments.c.flow == fr.name, enrollments.c.ended_at.is_(None),
                   enrollments.c.version != version)).all()
        if not stale:
            return version
        moves = {m.old: m for m in fr.moves}
        for row in stale:
            values: dict[str, Any] = {"version": version}
            if row.step not in self.program.labels:
                move = moves.get(row.step)
                if move is not None and move.to:
                    values.update(step=move.to, state="active", wake_at=self.at,
                                  waiting_for=None)
                    self.journal(row.id, row.lead_id, move.to, "moved",
                                 {"from": row.step, "version": version})
                    self.report.moved += 1
                else:
                    reason = (move.reason if move is not None else None) or (
                        f"step `{row.step}` was removed in version {version}")
                    values.update(state="exited", ended_at=self.at, end_reason=reason)
                    self.journal(row.id, row.lead_id, row.step, "exit", {"reason": reason})
                    self.cancel_pending([row.id], reason)
                    self.report.exited += 1
            self.cas(row.id, row.revision, values)
        return version

    # ------------------------------------------------------------ exits and goal

    def live_leads(self) -> sa.Select[Any]:
        return sa.select(enrollments.c.lead_id).where(enrollments.c.flow == self.fr.name,
                                                      enrollments.c.ended_at.is_(None))

    def matching(self, condition: A.Condition, lead_ids: sa.Select[Any] | Sequence[int],
                 ) -> set[int]:
        """Ids among ``lead_ids`` (a list, or a subquery) for whom the condition holds at T.
        Event tests are looked up per lead: the leads are a batch, or the flow's live
        enrollments, never the whole store, and reading every event of a kind for them (the
        static choice for counts and scores on PostgreSQL) cost a goal check 19 s at 1M leads
        instead of about one."""
        compiled = compile_condition(condition, self.fr.ctx, self.at, self.dialect,
                                     planner=PER_LEAD)
        among_ids = (leads.c.id.in_(lead_ids) if isinstance(lead_ids, sa.Select)
                     else among(leads.c.id, lead_ids, self.dialect))
        query = (sa.select(leads.c.id).select_from(compiled.from_())
                 .where(among_ids, compiled.where))
        return {int(r[0]) for r in self.conn.execute(query)}

    def check_exits(self) -> None:
        for condition in self.fr.exits:
            hit = self.matching(condition, self.live_leads())
            if hit:
                reason = f"exit when {condition_text(condition)}"
                self.end_live(hit, "exited", reason, "exit")
                self.report.exited += len(hit)

    def check_goal(self) -> None:
        goal = self.fr.goal
        if goal is None:
            return
        hit = self.matching(goal, self.live_leads())
        if not hit:
            return
        reason = f"goal when {condition_text(goal)}"
        rows = self.conn.execute(
            sa.select(enrollments.c.id, enrollments.c.lead_id, enrollments.c.counters,
                      enrollments.c.revision)
            .where(enrollments.c.flow == self.fr.name, enrollments.c.ended_at.is_(None),
                   among(enrollments.c.lead_id, sorted(hit), self.dialect))).all()
        changes: list[tuple[int, int, dict[str, Any]]] = []
        for row in rows:
            counters = dict(row.counters or {})
            if counters.get("#goal"):
                continue  # already running `on goal:`
            self.report.goals += 1
            self.journal(row.id, row.lead_id, None, "goal", {"reason": reason})
            if self.program.goal is None:
                changes.append((row.id, row.revision, {
                    "state": "goal", "ended_at": self.at, "end_reason": reason,
                    "waiting_for": None}))
            else:
                counters["#goal"] = 1
                changes.append((row.id, row.revision, {
                    "step": self.program.instrs[self.program.goal].label, "state": "active",
                    "wake_at": self.at, "waiting_for": None, "counters": counters}))
        self.cancel_pending([c[0] for c in changes], "goal reached")
        self.cas_many(changes)
        self.commit()

    def end_live(self, lead_ids: set[int], state: str, reason: str, event: str) -> None:
        ordered = sorted(lead_ids)
        for start in range(0, len(ordered), self.batch):
            chunk = ordered[start:start + self.batch]
            rows = self.conn.execute(
                sa.select(enrollments.c.id, enrollments.c.lead_id, enrollments.c.step,
                          enrollments.c.revision)
                .where(enrollments.c.flow == self.fr.name, enrollments.c.ended_at.is_(None),
                       among(enrollments.c.lead_id, chunk, self.dialect))).all()
            for row in rows:
                self.journal(row.id, row.lead_id, row.step, event, {"reason": reason})
            self.cas_many([(row.id, row.revision, {
                "state": state, "ended_at": self.at, "end_reason": reason,
                "waiting_for": None}) for row in rows])
            self.cancel_pending([r.id for r in rows], reason)
            self.commit()

    def cancel_pending(self, enrollment_ids: list[int], reason: str) -> None:
        """Sends a lead leaving the flow would still get: cancelled (nothing is half-sent:
        claimed or sending rows belong to the delivery layer and finish)."""
        if not enrollment_ids:
            return
        self.conn.execute(
            outbox.update()
            .where(among(outbox.c.enrollment_id, enrollment_ids, self.dialect),
                   outbox.c.action == "send", outbox.c.status.in_(("pending", "deferred")))
            .values(status="cancelled", reason=reason, updated_at=self.at))

    # ------------------------------------------------------------ entries

    def enter(self) -> None:
        entry = self.fr.entry
        if entry is None:
            return
        if isinstance(entry, A.EnterWhen):
            condition: A.Condition = entry.condition
            why = f"enter when {condition_text(condition)}"
        else:
            since = self.last_tick() or (self.at - FIRST_TRIGGER_WINDOW)
            minutes = max(1, math.ceil((self.at - since).total_seconds() / 60))
            happened = A.Count("at least", 1, entry.event, A.Duration(minutes, "minute"))
            condition = happened if entry.condition is None else A.And(
                (happened, entry.condition))
            why = f"enter on {entry.event.phrase}" + (
                f" when {condition_text(entry.condition)}" if entry.condition else "")
        blockers = [*self.fr.exits, *([self.fr.goal] if self.fr.goal is not None else [])]
        previous = enrollments.alias("previous")
        after = self.fr.reenter_after
        blocking: ColumnElement[bool] = previous.c.ended_at.is_(None)
        if after is None:
            blocking = sa.true()
        else:
            blocking = sa.or_(blocking, previous.c.entered_at > self.at - M.span(after))
        enrolled = sa.exists().where(previous.c.flow == self.fr.name,
                                     previous.c.lead_id == leads.c.id, blocking)
        compiled, where = self.entry_filter(condition, blockers, enrolled)
        entry_number = (sa.select(sa.func.count()).select_from(previous)
                        .where(previous.c.flow == self.fr.name,
                               previous.c.lead_id == leads.c.id)
                        .scalar_subquery() + 1)
        first = self.program.first
        select = (sa.select(sa.literal(self.fr.name), sa.literal(self.version), leads.c.id,
                            sa.literal(first), sa.literal("active"), sa.literal(self.at,
                                                                                 type_=enrollments.c.wake_at.type),
                            entry_number, sa.literal(self.at, type_=enrollments.c.entered_at.type),
                            sa.literal(self.at, type_=enrollments.c.updated_at.type))
                  .select_from(compiled.from_()).where(where))
        columns = ["flow", "version", "lead_id", "step", "state", "wake_at", "entry_number",
                   "entered_at", "updated_at"]
        insert = _insert(self.conn, enrollments).from_select(columns, select)
        # SQLAlchemy keeps the rowcount of an INSERT ... SELECT only when asked to (psycopg
        # reports -1 otherwise); RETURNING the ids instead would hold every new enrollment of
        # the tick in memory at once.
        count = max(self.conn.execute(insert.on_conflict_do_nothing().execution_options(
            preserve_rowcount=True)).rowcount or 0, 0)
        self.report.entered += count
        if count:
            # Entries of this T not journalled yet: a tick redone at the same T (after a crash
            # between its entries and its stepping, or by a second process) may find this
            # T's earlier entries still at the first step.
            journalled = sa.exists().where(journal.c.enrollment_id == enrollments.c.id,
                                           journal.c.event == "entered")
            new = (sa.select(sa.literal(self.at, type_=journal.c.at.type),
                             sa.literal(self.fr.name), enrollments.c.id, enrollments.c.lead_id,
                             sa.literal(first), sa.literal("entered"),
                             sa.literal({"reason": why}, type_=journal.c.details.type))
                   .where(enrollments.c.flow == self.fr.name,
                          enrollments.c.entered_at == self.at,
                          enrollments.c.ended_at.is_(None),
                          enrollments.c.updated_at == self.at,
                          enrollments.c.step == first, enrollments.c.state == "active",
                          ~journalled))
            self.conn.execute(journal.insert().from_select(
                ["at", "flow", "enrollment_id", "lead_id", "step", "event", "details"], new))
        self.commit()

    def entry_filter(self, condition: A.Condition, blockers: list[A.Condition],
                     enrolled: ColumnElement[bool]) -> tuple[Compiled, ColumnElement[bool]]:
        """The entry's WHERE: the audience, then "not enrolled already" (``enrolled`` false),
        then "no exit or goal holds". In that order because in a steady state nearly all of
        an audience is enrolled already, and the index probe that says so is far cheaper than
        the exit and goal tests (scores, event counts) it spares. SQLite tests the terms as
        written. PostgreSQL orders them itself: it tested the goal's score of every enrolled
        customer before "not enrolled", at every tick; there the exit and goal tests sit in
        a CASE after "not enrolled", which it evaluates in that order. (Testing the audience
        again first, inside the CASE, sped up that flow more and slowed one whose audience
        is dearer three times over: measured, this is the better of the two.) The shapes
        are measured on this store's data (a few milliseconds), as `engine query` does; every
        shape gives the same rows."""
        parts = [condition] + ([A.Not(A.Or(tuple(blockers)))] if blockers else [])
        # Once the flow has ticked, the leads that get past "not enrolled already" are the
        # audience's newcomers since, a handful: the exit and goal tests look them up one by
        # one rather than read every event of their kinds (a goal's `submitted "demo*"` over
        # all time would be read whole for them).
        few = PER_LEAD if self.last_tick() is not None else None
        compiled, wheres = compile_together(parts, self.fr.ctx, self.at, self.conn,
                                            planners=[None, few])
        if self.dialect == "postgresql" and len(wheres) > 1:
            return compiled, sa.and_(wheres[0], sa.case((enrolled, sa.false()),
                                                        else_=sa.and_(*wheres[1:])))
        return compiled, sa.and_(wheres[0], ~enrolled, *wheres[1:])

    def tick_key(self) -> str:
        return f"tick:{self.fr.name}"

    def last_tick(self) -> dt.datetime | None:
        value = self.conn.execute(sa.select(settings.c.value)
                                  .where(settings.c.key == self.tick_key())).scalar()
        if value is None:
            return None
        last = dt.datetime.fromisoformat(str(value))
        return last if last < self.at else None

    def remember_tick(self) -> None:
        key, value = self.tick_key(), self.at.isoformat()
        stmt = _insert(self.conn, settings).values(key=key, value=value, created_at=self.at)
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "created_at": self.at},
            where=settings.c.value < value))

    # ------------------------------------------------------------ advancing

    def due_where(self, by_id: bool = False) -> list[ColumnElement[bool]]:
        """``by_id``: for a batch named by id, its other tests kept off the flow's and the
        state's indexes (engine.store.db.unindexed), and every wait looked at (the ids were
        chosen by ``woken``)."""
        flow: ColumnElement[str] = enrollments.c.flow
        state: ColumnElement[str] = enrollments.c.state
        if by_id:
            flow, state = unindexed(flow, self.dialect), unindexed(state, self.dialect)
        due = (sa.or_(enrollments.c.wake_at <= self.at, enrollments.c.waiting_for.is_not(None))
               if by_id else self.woken())
        return [flow == self.fr.name, enrollments.c.ended_at.is_(None), state.in_(LIVE), due]

    def woken(self) -> ColumnElement[bool]:
        """Which enrollments the tick must look at: those whose wake time has come, and those
        waiting for an event or a date that is there now, tested in SQL per lead. Reading every
        waiting enrollment into Python at every tick to find the few whose wait is over cost
        most of a day's tick (190,000 of them at 1M leads, for some hundreds woken). The test
        is the one the step itself makes (``wait_tests``), so an enrollment left out here is
        one the step would have left as it was; a wait whose test needs more than per-lead SQL
        is looked at every tick, as before."""
        e = enrollments.c
        tested: list[str] = []
        woken: list[ColumnElement[bool]] = []
        for label, condition in wait_tests(self.program.instrs, self.program.labels).items():
            compiled = compile_condition(condition, self.fr.ctx, self.at, self.dialect,
                                         planner=PER_LEAD)
            if compiled.joins:
                continue
            tested.append(label)
            # A scalar subquery, not EXISTS: PostgreSQL may run an EXISTS under OR as a
            # "hashed" subplan, i.e. find every lead of the store for whom the condition
            # holds (every visitor of "/pricing*" ever: 1.5 s) to look up a few hundred.
            holds = (sa.select(sa.true()).select_from(leads)
                     .where(leads.c.id == e.lead_id, compiled.where).limit(1)
                     .scalar_subquery())
            woken.append(sa.and_(e.step == label, holds.is_not(None)))
        waiting: ColumnElement[bool] = e.waiting_for.is_not(None)
        if tested:
            waiting = sa.and_(waiting, sa.or_(e.wake_at.is_(None), e.step.not_in(tested)))
        return sa.or_(e.wake_at <= self.at, waiting, *woken)

    def due_ids(self) -> array[int]:
        """The ids of the flow's due enrollments, read once, in order, as a compact array (8
        bytes each). Paging with "the next 500 due after id N" made the database read and sort
        every live enrollment of the flow for each page (its live index has no id order): a
        pass quadratic in the number of due enrollments."""
        return array("q", (int(r[0]) for r in self.conn.execute(
            sa.select(enrollments.c.id).where(*self.due_where()).order_by(enrollments.c.id))))

    def due(self, ids: list[int]) -> sa.Select[Any]:
        """A batch of due enrollments, their due conditions tested again: another process (or
        this tick's own earlier steps) may have moved them since the ids were read."""
        query = (sa.select(enrollments.c.id, enrollments.c.lead_id, enrollments.c.step,
                           enrollments.c.state, enrollments.c.wake_at,
                           enrollments.c.waiting_for, enrollments.c.counters,
                           enrollments.c.revision)
                 .where(among(enrollments.c.id, ids, self.dialect), *self.due_where(by_id=True))
                 .order_by(enrollments.c.id))
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return query

    def advance_all(self) -> None:
        due = self.due_ids()
        for start in range(0, len(due), self.batch):
            rows = self.conn.execute(self.due(list(due[start:start + self.batch]))).all()
            if not rows:
                continue
            # Only an enrollment that was waiting resumes its wait; one that arrives at a wait
            # (just entered, sent to `on goal:`, moved by a new version) starts it.
            batch = [Enr(int(r.id), int(r.lead_id), r.step, r.state, r.wake_at,
                         dict(r.waiting_for) if r.waiting_for else None,
                         dict(r.counters or {}), int(r.revision),
                         resuming=r.state == "waiting") for r in rows]
            Stepper(self, batch).run()
            self.commit()

    # ------------------------------------------------------------ writes

    def cas(self, enrollment_id: int, revision: int, values: dict[str, Any]) -> None:
        self.cas_many([(enrollment_id, revision, values)])

    def cas_many(self, changes: Sequence[tuple[int, int, dict[str, Any]]]) -> None:
        """Compare-and-set updates of enrollments (id, the revision read, new values): one
        executemany per set of columns, and any row whose revision moved meanwhile raises
        ConcurrentChange (the caller's transaction is then rolled back and redone)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for enrollment_id, revision, values in changes:
            row = {**values, "revision": revision + 1, "updated_at": self.at,
                   "_id": enrollment_id, "_revision": revision}
            groups[tuple(sorted(row))].append(row)
        for key, rows in groups.items():
            moved = compare_and_set(tuple(c for c in key if not c.startswith("_"))
                                    ).executemany(self.conn, rows)
            if moved != len(rows):
                raise ConcurrentChange(f"{len(rows) - moved} of enrollments "
                                       f"{sorted(r['_id'] for r in rows)[:10]}... changed "
                                       "concurrently")

    def journal(self, enrollment_id: int, lead_id: int, step: str | None, event: str,
                details: dict[str, Any] | None = None) -> None:
        """A journal row, written with the next commit (one INSERT for a whole batch)."""
        self._journal.append({
            "at": self.at, "flow": self.fr.name, "enrollment_id": enrollment_id,
            "lead_id": lead_id, "step": step, "event": event, "details": details})

    def flush_journal(self) -> None:
        if self._journal:
            JOURNAL_INSERT.executemany(self.conn, self._journal)
            self._journal = []

    def intent(self, enr: Enr, label: str, occurrence: str, action: str,
               template: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        key = f"{self.fr.name}:{enr.id}:{label}:{occurrence}"
        return {
            "flow": self.fr.name, "enrollment_id": enr.id, "step": label,
            "occurrence": occurrence, "lead_id": enr.lead_id, "flow_version": self.version,
            "action": action, "template": template, "payload": payload,
            "message_id": message_id(self.secret, key, self.domain), "status": "pending",
            "attempts": 0, "next_attempt_at": self.at, "created_at": self.at,
            "updated_at": self.at,
        }

    def write_intents(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            INTENT_INSERT.executemany(self.conn, rows)
            for row in rows:
                self.report.actions[row["action"]] += 1


class Stepper:
    """Advances one batch of enrollments, instruction by instruction, grouping the batch by
    instruction so that each condition is one SQL query for the whole group."""

    def __init__(self, tick: Tick, batch: list[Enr]) -> None:
        self.t = tick
        self.program = tick.program
        self.batch = batch
        self.intents: list[dict[str, Any]] = []
        self._leads: dict[int, dict[str, Any]] | None = None

    def run(self) -> None:
        for enr in self.batch:
            pc = self.program.labels.get(enr.label)
            if pc is None:  # a label no version knows (edited by hand): leave, say why
                enr.end = ("exited", f"step `{enr.label}` does not exist in this flow")
                enr.running = False
                continue
            enr.pc = pc
        for _ in range(MAX_STEPS):
            running = [e for e in self.batch if e.running]
            if not running:
                break
            groups: dict[int, list[Enr]] = defaultdict(list)
            for e in running:
                groups[e.pc].append(e)
            for pc in sorted(groups):
                self.execute(self.program.instrs[pc], groups[pc])
        else:
            for e in self.batch:
                if e.running:
                    e.running = False
                    e.end = ("failed", f"more than {MAX_STEPS} steps in one tick")
        self.t.write_intents(self.intents)
        self.save()

    # ------------------------------------------------------------ helpers

    def leads(self) -> dict[int, dict[str, Any]]:
        """The batch's leads as the language sees them (read once, when a step needs them)."""
        if self._leads is None:
            ids = [e.lead_id for e in self.batch]
            rows = self.t.conn.execute(
                sa.select(leads).where(among(leads.c.id, ids, self.t.dialect))).mappings()
            self._leads = {int(r["id"]): {**lead_from_row(r, self.t.fr.ctx), "_row": dict(r)}
                           for r in rows}
        return self._leads

    def attributes(self, operand: A.Operand, lead_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The leads as an operand sees them: only the attributes it names, read for these
        leads alone, when it names plain attributes (`renewal_date - 90 days`); else the
        batch's whole leads."""
        names = {n.name for n in nodes(operand) if isinstance(n, A.Name)}
        columns = attribute_columns(names, self.t.fr.ctx)
        if columns is None or self._leads is not None:
            return self.leads()
        rows = self.t.conn.execute(
            sa.select(*columns).where(among(leads.c.id, lead_ids, self.t.dialect)))
        return {int(r.id): lead_from_row(r._mapping, self.t.fr.ctx, names) for r in rows}

    def forget_leads(self) -> None:
        self._leads = None

    def go(self, enr: Enr, target: int) -> None:
        enr.pc = target
        enr.resuming = False
        enr.changed = True

    def wait(self, enr: Enr, until: dt.datetime | None, waiting_for: dict[str, Any] | None,
             ) -> None:
        enr.running = False
        enr.state = "waiting"
        enr.wake_at = until
        enr.waiting_for = waiting_for
        enr.changed = True

    def finish(self, enr: Enr, state: str, reason: str) -> None:
        enr.running = False
        enr.end = (state, reason)
        enr.changed = True

    def log(self, enr: Enr, ins: Instr, event: str, **details: Any) -> None:
        self.t.journal(enr.id, enr.lead_id, ins.label, event, details or None)

    def bump(self, enr: Enr, key: str) -> int:
        n = int(enr.counters.get(key, 0)) + 1
        enr.counters[key] = n
        return n

    # ------------------------------------------------------------ instructions

    def execute(self, ins: Instr, group: list[Enr]) -> None:
        getattr(self, f"op_{ins.op}")(ins, group)

    def op_jump(self, ins: Instr, group: list[Enr]) -> None:
        for e in group:
            self.go(e, ins.next)

    def op_end(self, ins: Instr, group: list[Enr]) -> None:
        for e in group:
            self.log(e, ins, "completed")
            self.finish(e, "completed", "reached the end of the flow")

    def op_goal_end(self, ins: Instr, group: list[Enr]) -> None:
        for e in group:
            self.log(e, ins, "completed", reason="goal")
            self.finish(e, "goal", "goal reached")

    def op_exit(self, ins: Instr, group: list[Enr]) -> None:
        step: A.ExitStep = ins.step
        reason = step.reason or "exit step"
        for e in group:
            self.log(e, ins, "exit", reason=reason)
            self.finish(e, "exited", reason)

    def op_send(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Send = ins.step
        sender = step.sender
        payload_base = {"sender_owner": bool(sender and sender.owner),
                        "sender_address": sender.address if sender else None,
                        "priority": self.t.fr.priority}
        for e in group:
            n = self.bump(e, ins.label)
            if step.series:
                already = int(e.counters.get(f"{ins.label}#series", 0))
                if already >= len(step.templates):
                    self.log(e, ins, "skipped", reason="every template of the series was sent")
                    self.go(e, ins.next)
                    continue
                template = step.templates[already]
                e.counters[f"{ins.label}#series"] = already + 1
            else:
                template = step.templates[0]
            self.intents.append(self.t.intent(e, ins.label, str(n), "send", template,
                                              dict(payload_base)))
            self.log(e, ins, "send", template=template, occurrence=n)
            self.go(e, ins.next)

    def op_wait_for(self, ins: Instr, group: list[Enr]) -> None:
        step: A.WaitFor = ins.step
        wake = self.t.at + M.span(step.duration)  # one object for the group: written once
        for e in group:
            if e.resuming:
                self.log(e, ins, "waited", duration=duration_text(step.duration))
                self.go(e, ins.next)
            else:
                self.wait(e, wake, None)

    def op_wait_until(self, ins: Instr, group: list[Enr]) -> None:
        """Until a date: re-read every tick (a CRM sync may move it: ``Tick.woken`` tests it in
        SQL); past or today: go on; later: wait, written once with the date as its wake time
        (rewritten only when that passes and the date has moved on); unknown: wait, looked at
        again daily."""
        step: A.WaitUntil = ins.step
        people = self.attributes(step.date, [e.lead_id for e in group])
        today = M.today(self.t.at)
        for e in group:
            lead = people.get(e.lead_id, {})
            value = Interpreter(lead, [], self.t.at, self.t.fr.ctx).value(
                step.date, peer="date").value
            if isinstance(value, dt.date) and value <= today:
                self.log(e, ins, "waited", until=value.isoformat())
                self.go(e, ins.next)
                continue
            if e.resuming and e.wake_at is not None and e.wake_at > self.t.at:
                # Its wake time has not come: writing the same wait again would make every
                # tick touch every waiting enrollment, and a second tick at the same T would
                # not be a no-op.
                e.running = False
                continue
            if isinstance(value, dt.date):
                wake = dt.datetime.combine(value, dt.time(0), tzinfo=dt.UTC)
            else:
                wake = self.t.at + dt.timedelta(days=1)
            self.wait(e, wake, {"until": "date"})

    def op_wait_event(self, ins: Instr, group: list[Enr]) -> None:
        step: A.WaitEvent = ins.step
        happened = self.t.matching(step.condition, [e.lead_id for e in group])
        timeout, waiting = self.t.at + M.span(step.timeout), {"until": "event"}
        for e in group:
            if e.lead_id in happened:
                self.log(e, ins, "waited", happened=condition_text(step.condition))
                self.go(e, ins.next)
            elif e.resuming and e.wake_at is not None and e.wake_at <= self.t.at:
                self.log(e, ins, "waited", timeout=duration_text(step.timeout))
                self.go(e, ins.next)
            elif e.resuming:
                e.running = False  # still waiting: nothing changes, nothing is written
            else:
                self.wait(e, timeout, waiting)

    def op_branch(self, ins: Instr, group: list[Enr]) -> None:
        left = list(group)
        for condition, target in ins.targets:
            if not left:
                break
            hit = self.t.matching(condition, [e.lead_id for e in left])
            text = condition_text(condition)
            for e in [e for e in left if e.lead_id in hit]:
                self.log(e, ins, "branch", condition=text, result=True)
                self.go(e, target)
            left = [e for e in left if e.lead_id not in hit]
        for e in left:
            self.log(e, ins, "branch", condition="otherwise")
            self.go(e, ins.next)

    def op_split(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Split = ins.step
        for e in group:
            name, target = assign_split(e.lead_id, self.t.fr.name, step.name, ins.targets)
            e.counters[f"{ins.label}#branch"] = name
            self.log(e, ins, "split", branch=name)
            self.go(e, target if target >= 0 else ins.next)

    def op_repeat(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Repeat = ins.step
        until = (self.t.matching(step.until, [e.lead_id for e in group])
                 if step.until is not None else set())
        for e in group:
            rounds = int(e.counters.get(ins.label, 0))
            if e.lead_id in until:
                self.log(e, ins, "repeat_done", reason=f"until {condition_text(step.until)}"
                         if step.until is not None else "until")
                self.go(e, ins.head)
            elif step.max_times is not None and rounds >= step.max_times:
                self.log(e, ins, "repeat_done", reason=f"at most {step.max_times} times")
                self.go(e, ins.head)
            else:
                e.counters[ins.label] = rounds + 1
                self.log(e, ins, "repeat", round=rounds + 1)
                self.go(e, ins.next)

    def op_repeat_end(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Repeat = ins.step
        wake = self.t.at + max(M.span(step.every), dt.timedelta(days=1))
        for e in group:
            if e.resuming:
                self.go(e, ins.next)
            else:
                self.wait(e, wake, None)

    def op_set(self, ins: Instr, group: list[Enr]) -> None:
        from engine.runtime.effects import attribute_change, write_changes

        step: A.SetAttr = ins.step
        people = self.leads()
        changes = [attribute_change(self.t.fr.ctx, people.get(e.lead_id, {}), e.lead_id, step,
                                    self.t.at, self.t.fr.name, ins.label) for e in group]
        write_changes(self.t.conn, changes)
        for e, change in zip(group, changes, strict=True):
            self.log(e, ins, "set", attribute=step.name, old=_plain(change.old),
                     new=_plain(change.new))
            self.go(e, ins.next)
        self.forget_leads()

    def op_tag(self, ins: Instr, group: list[Enr]) -> None:
        step: A.TagStep = ins.step
        ids = [e.lead_id for e in group]
        conn = self.t.conn
        if step.add:
            conn.execute(_insert(conn, lead_tags).on_conflict_do_nothing(),
                         [{"lead_id": i, "tag": step.tag, "created_at": self.t.at} for i in ids])
        else:
            conn.execute(lead_tags.delete().where(among(lead_tags.c.lead_id, ids, self.t.dialect),
                                                  lead_tags.c.tag == step.tag))
        for e in group:
            self.log(e, ins, "tag", tag=step.tag, added=step.add)
            self.go(e, ins.next)

    def op_notify(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Notify = ins.step
        people = self.leads()
        team = self.t.folder.symbols.teams.get(step.team) if step.team else None
        for e in group:
            owner = (people.get(e.lead_id, {}).get("owner") or None) if step.owner else None
            n = self.bump(e, ins.label)
            targets: list[dict[str, Any]] = []
            if owner:
                targets = [{"channel": "email", "to": owner, "who": "owner"}]
            elif team is not None:
                targets = [{"channel": c.kind, ("to" if c.kind == "email" else "url"): c.address,
                            "who": f"team {team.name}"} for c in team.channels]
            if not targets:
                self.log(e, ins, "notify_skipped", reason="the lead has no owner")
            for i, target in enumerate(targets):
                occurrence = f"{n}" if i == 0 else f"{n}.{i}"
                self.intents.append(self.t.intent(e, ins.label, occurrence, "notify",
                                                  step.template, target))
                self.log(e, ins, "notify", template=step.template, **target)
            self.go(e, ins.next)

    def op_handoff(self, ins: Instr, group: list[Enr]) -> None:
        step: A.Handoff = ins.step
        ranks = self.ranks(step.priority, [e.lead_id for e in group])
        for e in group:
            n = self.bump(e, ins.label)
            rank = ranks.get(e.lead_id)
            payload = {"team": step.team, "priority": step.priority, "rank": rank,
                       "per_day": step.per_day}
            self.intents.append(self.t.intent(e, ins.label, str(n), "handoff", None, payload))
            self.log(e, ins, "handoff", team=step.team, rank=rank)
            self.go(e, ins.next)

    def ranks(self, priority: str | None, lead_ids: list[int]) -> dict[int, int | None]:
        """Each lead's place in the priority order (the first rule that holds)."""
        order = self.t.folder.symbols.priorities.get(priority) if priority else None
        if order is None:
            return {}
        out: dict[int, int | None] = {}
        left = set(lead_ids)
        for rule in order.rules:
            if not left:
                break
            hit = left if rule.condition is None else self.t.matching(rule.condition,
                                                                      sorted(left))
            for i in hit:
                out[i] = rule.rank
            left -= hit
        return out

    # ------------------------------------------------------------ saving

    def save(self) -> None:
        changes: list[tuple[int, int, dict[str, Any]]] = []
        exited: dict[str, list[int]] = defaultdict(list)
        for e in self.batch:
            if not e.changed and e.end is None:
                continue
            values: dict[str, Any] = {"counters": e.counters}
            if e.end is not None:
                state, reason = e.end
                values.update(state=state, ended_at=self.t.at, end_reason=reason,
                              step=self.program.instrs[e.pc].label if e.pc >= 0 else e.label,
                              waiting_for=None)
                if state == "exited":
                    exited[reason].append(e.id)
            else:
                values.update(step=self.program.instrs[e.pc].label, state=e.state,
                              wake_at=e.wake_at, waiting_for=e.waiting_for)
            self.t.report.advanced += 1
            changes.append((e.id, e.revision, values))
        for reason, ids in exited.items():
            self.t.cancel_pending(ids, reason)
        self.t.cas_many(changes)


def wait_tests(instrs: Sequence[Instr], labels: dict[str, int]) -> dict[str, A.Condition]:
    """For each wait that an event or a date ends (by its label), the condition under which
    the step would let a waiting lead go on before its timeout: `wait until EVENT` its event;
    `wait until DATE` the date being today or past (``Stepper.op_wait_until``)."""
    out: dict[str, A.Condition] = {}
    for i, ins in enumerate(instrs):
        if labels.get(ins.label) != i:
            continue  # an enrollment at this label runs another instruction
        if ins.op == "wait_event":
            out[ins.label] = ins.step.condition
        elif ins.op == "wait_until":
            out[ins.label] = A.Compare(ins.step.date, "<=", A.Today())
    return out


def assign_split(lead_id: int, flow: str, split: str,
                 branches: Iterable[tuple[str, float, int]]) -> tuple[str, int]:
    """Deterministic per lead, flow and split: the same lead lands in the same branch on every
    run and every dry run (a stable hash, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{flow}\x00{split}\x00{lead_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * 100
    total = 0.0
    chosen: tuple[str, int] | None = None
    for name, percent, target in branches:
        total += percent
        chosen = (name, target)
        if point < total:
            return chosen
    assert chosen is not None, "a split has branches"
    return chosen


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


__all__ = ["Tick", "Unit", "TickReport", "ConcurrentChange", "assign_split", "events"]

"""The lead store's tables (SQLAlchemy Core, one MetaData), the same on SQLite and PostgreSQL.

Names of tables and columns are a contract: the condition compiler, imports and the runtime use
them, and the initial migration (``engine/store/migrations/versions``) creates exactly this. A
change here needs a new migration (`tests/engine/test_store.py` fails on any drift).

Decisions, with the why (docs/operations.md repeats them for operators):

- **Stage changes are events** (``type = 'stage_change'``, old / new stage in the ``from_stage`` /
  ``to_stage`` columns), not a table of their own: triggers (``on stage change to recycle``),
  counts and windows then work on them exactly as on any other event, with the same indexes and
  the same compiled SQL. ``leads.stage`` holds the current stage.
- **No foreign key from events to leads.** Events are the bulk table (20M rows); an FK made
  PostgreSQL bulk loads about 9.5x slower (PERFORMANCE.md). Writers resolve ``lead_id`` from
  ``leads`` in the same transaction, and erasure deletes a lead's events explicitly. The small
  tables (identities, enrollments, outbox, tracked tokens) keep real FKs, ``ON DELETE CASCADE``.
- **Event properties the language can test have columns** (dsl.schema.EVENT_PROPERTIES); anything
  else an event carries goes to ``properties`` (JSON), which no condition can reach.
- **Suppressions are keyed by the SHA-256 of the normalised email** (engine.store.emails), not by
  lead, so they survive the erasure of the lead and apply to a re-import of the same address.
- **Instants are UTC** (``UTCDateTime``); nothing here has a database-clock default, because the
  engine's clock is injectable (a dry run ``--at`` a past time must write nothing different).
"""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.types import BigId, JSONDoc, OptionalJSONDoc, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

SUPPRESSION_REASONS = ("unsubscribe", "bounce", "complaint", "manual", "erasure", "role_address")
ENROLLMENT_STATES = ("active", "waiting", "completed", "exited", "goal", "failed")
OUTBOX_STATUSES = ("pending", "claimed", "sending", "sent", "deferred", "failed", "suppressed",
                   "unknown", "cancelled")
IMPORT_STATUSES = ("running", "done", "failed")
WEBHOOK_KINDS = ("bounce", "complaint", "delivered", "deferred")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _lead_fk(nullable: bool = False) -> sa.Column[int]:
    return sa.Column("lead_id", BigId, sa.ForeignKey("leads.id", ondelete="CASCADE"),
                     nullable=nullable)


leads = sa.Table(
    "leads", metadata,
    _id(),
    sa.Column("email", sa.Text, nullable=False),  # normalised: engine.store.emails
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("company", sa.Text),
    sa.Column("employees", sa.Integer),
    sa.Column("industry", sa.Text),
    sa.Column("service_category", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("stage", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("time_zone", sa.Text),  # IANA name, e.g. Asia/Tokyo
    sa.Column("language", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("consent", sa.Boolean),  # NULL: unknown
    sa.Column("legal_basis", sa.Text),  # how consent was obtained (migration 0002)
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Declared custom attributes: {"renewal_date": "2026-04-01", "seats": 40, ...}.
    sa.Column("custom", JSONDoc, nullable=False, server_default=sa.text("'{}'")),
    # Per field: {"stage": {"source": "crm", "at": "2026-11-20T09:00:00+00:00"}, ...}.
    sa.Column("provenance", JSONDoc, nullable=False, server_default=sa.text("'{}'")),
    sa.UniqueConstraint("email"),
    sa.Index(None, "industry", "employees"),
    sa.Index(None, "stage"),
)

events = sa.Table(
    "events", metadata,
    _id(),
    sa.Column("lead_id", BigId, nullable=False),  # no FK: see the module docstring
    sa.Column("type", sa.Text, nullable=False),  # dsl.schema.EVENT_KINDS or a declared kind
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("url", sa.Text),  # page views: the page
    sa.Column("link", sa.Text),  # email clicks: the link's target
    sa.Column("template", sa.Text),
    sa.Column("flow", sa.Text),
    sa.Column("step", sa.Text),
    sa.Column("campaign", sa.Text),
    sa.Column("asset", sa.Text),  # downloads
    sa.Column("name", sa.Text),  # seminars, exhibitions
    sa.Column("form", sa.Text),  # form submissions
    sa.Column("from_stage", sa.Text),  # stage changes (language property `from`)
    sa.Column("to_stage", sa.Text),  # stage changes (language property `to`)
    sa.Column("properties", OptionalJSONDoc),  # the rest; never reachable from a condition
    sa.Column("source", sa.Text),  # "tracking", "engine", an import source name...
    # A provider's or an import's event id: the same fact delivered twice is stored once.
    sa.Column("dedupe_key", sa.Text),
    sa.Column("import_id", BigId),
    # Clicks and opens that look automated (link scanners, privacy proxies, HEAD requests, a
    # click seconds after delivery): TRUE, never FALSE; NULL is a person (migration 0004).
    # Scores are meant to skip them (`machine IS NOT TRUE`); the reason is in properties["why"].
    sa.Column("machine", sa.Boolean),
    sa.Index(None, "lead_id", "type", "occurred_at"),
    sa.Index(None, "type", "occurred_at"),
    sa.Index(None, "dedupe_key", unique=True,
             sqlite_where=sa.text("dedupe_key IS NOT NULL"),
             postgresql_where=sa.text("dedupe_key IS NOT NULL")),
)

identities = sa.Table(
    "identities", metadata,
    _id(),
    sa.Column("visitor_id", sa.Text, nullable=False),  # the anonymous web visitor's token id
    _lead_fk(),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("visitor_id"),
    sa.Index(None, "lead_id"),
)

suppressions = sa.Table(
    "suppressions", metadata,
    _id(),
    sa.Column("email_hash", sa.String(64), nullable=False),  # sha256 hex, engine.store.emails
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False, server_default="global"),
    sa.Column("source", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("reason", SUPPRESSION_REASONS), name="reason"),
    sa.UniqueConstraint("email_hash", "scope", "reason"),
)

flow_versions = sa.Table(
    "flow_versions", metadata,
    _id(),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # the flow's text as it ran
    sa.Column("path", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("flow", "version"),
)

enrollments = sa.Table(
    "enrollments", metadata,
    _id(),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    _lead_fk(),
    sa.Column("step", sa.Text),  # the named step it sits at (kept across flow versions)
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("wake_at", UTCDateTime),  # when a waiting enrollment is due
    sa.Column("waiting_for", OptionalJSONDoc),  # `wait until <event>`: what wakes it early
    sa.Column("entry_number", sa.Integer, nullable=False, server_default="1"),  # re-entries
    sa.Column("counters", JSONDoc, nullable=False, server_default=sa.text("'{}'")),  # step -> runs
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),  # compare-and-set
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),  # NULL while live
    sa.Column("end_reason", sa.Text),
    sa.CheckConstraint(_one_of("state", ENROLLMENT_STATES), name="state"),
    # One live enrollment per flow and lead; ended ones stay as history.
    sa.Index("uq_enrollments_flow_lead_live", "flow", "lead_id", unique=True,
             sqlite_where=sa.text("ended_at IS NULL"),
             postgresql_where=sa.text("ended_at IS NULL")),
    sa.Index(None, "state", "wake_at"),
    sa.Index(None, "lead_id"),
)

outbox = sa.Table(
    "outbox", metadata,
    _id(),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("enrollment_id", BigId, sa.ForeignKey("enrollments.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    # Which run of the step: "1", "2"... in repeats, or a local day such as "2026-11-02@Asia/Tokyo".
    sa.Column("occurrence", sa.Text, nullable=False),
    _lead_fk(),
    sa.Column("flow_version", sa.Integer, nullable=False),
    sa.Column("action", sa.Text, nullable=False),  # send, notify, handoff...
    sa.Column("template", sa.Text),
    sa.Column("payload", OptionalJSONDoc),
    sa.Column("message_id", sa.Text),  # deterministic per intent (RELIABILITY 2.2 rule 5)
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.Text),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_reply_code", sa.Integer),
    sa.Column("last_reply_text", sa.Text),
    sa.Column("relay_id", sa.Text),  # "queued as ..." or the provider's message id
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    # Why the policy gate deferred or blocked it, or why delivery failed (migration 0003).
    sa.Column("reason", sa.Text),
    sa.CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
    sa.UniqueConstraint("flow", "enrollment_id", "step", "occurrence"),  # invariant I1
    sa.UniqueConstraint("message_id"),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "lead_id", "created_at"),
)

tracked_tokens = sa.Table(
    "tracked_tokens", metadata,
    _id(),
    sa.Column("token", sa.Text, nullable=False),  # opaque and random, never sequential (I10)
    sa.Column("purpose", sa.Text, nullable=False),  # click, open, unsubscribe
    sa.Column("outbox_id", BigId, sa.ForeignKey("outbox.id", ondelete="CASCADE")),
    _lead_fk(),
    sa.Column("url", sa.Text),  # a click's target, taken from the sent template
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.UniqueConstraint("token"),
    sa.Index(None, "outbox_id"),
)

audit = sa.Table(
    "audit", metadata,
    _id(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),  # a user, "engine", "import:<source>"...
    sa.Column("action", sa.Text, nullable=False),  # e.g. lead.erase, suppression.add, flow.deploy
    sa.Column("subject", sa.Text),  # what it was done to: an email hash, a flow name...
    sa.Column("details", OptionalJSONDoc),
    sa.Index(None, "at"),
    sa.Index(None, "subject"),
)

journal = sa.Table(
    # What happened to each enrollment and why: entries, steps taken, waits, exits, with the
    # condition and the values that decided (engine explain, reports). Migration 0003.
    "journal", metadata,
    _id(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("enrollment_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("step", sa.Text),
    sa.Column("event", sa.Text, nullable=False),  # entered, step, wait, exit, goal, deferred...
    sa.Column("details", OptionalJSONDoc),
    sa.Index(None, "lead_id", "at"),
    sa.Index(None, "enrollment_id"),
)

lead_tags = sa.Table(
    "lead_tags", metadata,
    _lead_fk(),
    sa.Column("tag", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("lead_id", "tag"),
    sa.Index(None, "tag"),
)

settings = sa.Table(
    # Values the engine keeps for itself, e.g. the generated signing secret. Migration 0003.
    "settings", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

anonymous_views = sa.Table(
    # Page views of a web visitor not yet known as a lead (the JS tag's first-party visitor id).
    # When the visitor is identified (a click's visitor token, a form), its views move to
    # ``events`` as page views of the lead and leave this table; unidentified ones are deleted
    # after a retention period (docs/tracking.md). Migration 0004.
    "anonymous_views", metadata,
    _id(),
    sa.Column("visitor_id", sa.Text, nullable=False),
    sa.Column("view_id", sa.Text, nullable=False),  # the tag's random id of this page view
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("url", sa.Text, nullable=False),  # the page's path, as events.url
    sa.Column("properties", OptionalJSONDoc),  # page, title, referrer, seconds on the page
    sa.UniqueConstraint("visitor_id", "view_id"),
    sa.Index(None, "occurred_at"),
)

webhook_events = sa.Table(
    # Bounce, complaint and delivery reports the relay or ESP posts to `engine serve`
    # (engine.track.hooks, docs/tracking.md). One row per (source, event id): a report delivered
    # twice is stored, and acted on, once. The address only as its hash, as suppressions keep it;
    # `reason` is remote text, cleaned and bounded, with the address masked. Migration 0005.
    "webhook_events", metadata,
    sa.Column("source", sa.Text, nullable=False),  # "relay" (the generic format), "sendgrid"...
    sa.Column("event_id", sa.Text, nullable=False),  # the sender's id of the event
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("occurred_at", UTCDateTime),  # the sender's timestamp, when it gave one
    sa.Column("kind", sa.Text, nullable=False),  # WEBHOOK_KINDS
    sa.Column("severity", sa.Text),  # bounces: hard (suppressed) or soft
    sa.Column("status", sa.Text),  # RFC 3463 enhanced status code, e.g. 5.1.1
    sa.Column("email_hash", sa.String(64), nullable=False),  # engine.store.emails
    # The message it is about, when its Message-ID is one of ours. No FK: the report outlives
    # the outbox row (erasing a lead deletes its rows).
    sa.Column("outbox_id", BigId),
    sa.Column("reason", sa.Text),
    sa.Column("effect", sa.Text, nullable=False),  # suppressed, recorded
    sa.PrimaryKeyConstraint("source", "event_id"),
    sa.CheckConstraint(_one_of("kind", WEBHOOK_KINDS), name="kind"),
    sa.Index(None, "email_hash"),
    sa.Index(None, "kind", "received_at"),  # bounce and complaint rates over a window
)

imports = sa.Table(
    "imports", metadata,
    _id(),
    sa.Column("kind", sa.Text, nullable=False),  # leads, events
    sa.Column("source", sa.Text, nullable=False),  # the merge-rule source: crm, web_form...
    sa.Column("file_name", sa.Text),
    sa.Column("file_sha256", sa.String(64)),
    sa.Column("encoding", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("rows_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_inserted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("report", OptionalJSONDoc),  # summary: rejected rows file, unknown emails...
    sa.CheckConstraint(_one_of("status", IMPORT_STATUSES), name="status"),
)

TABLES = tuple(metadata.sorted_tables)

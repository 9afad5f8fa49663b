"""The lead store: leads, events, identities, suppressions, flow versions, enrollments, outbox,
tracked tokens, audit journal, imports.

Frozen: this file spells out its own types and names instead of importing engine.store.schema,
so later changes to the schema module cannot change what this revision did.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EMPTY = sa.text("'{}'")


def _pk() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _lead_fk(table: str) -> sa.Column[int]:
    return sa.Column("lead_id", ID, sa.ForeignKey("leads.id", ondelete="CASCADE",
                                                  name=f"fk_{table}_lead_id_leads"),
                     nullable=False)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _create(name: str, *items: SchemaItem) -> None:
    op.create_table(name, *items, sa.PrimaryKeyConstraint("id", name=f"pk_{name}"))


def _index(table: str, *columns: str, unique: bool = False, where: str | None = None,
           name: str | None = None) -> None:
    kw: dict[str, Any] = {}
    if where is not None:
        kw = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
    op.create_index(name or f"ix_{table}_{'_'.join(columns)}", table, list(columns),
                    unique=unique, **kw)


def upgrade() -> None:
    text_columns = ("first_name", "last_name", "company")
    _create(
        "leads", _pk(),
        sa.Column("email", sa.Text, nullable=False),
        *(sa.Column(c, sa.Text) for c in text_columns),
        sa.Column("employees", sa.Integer),
        *(sa.Column(c, sa.Text) for c in (
            "industry", "service_category", "title", "department", "stage", "owner", "country",
            "time_zone", "language", "phone")),
        sa.Column("consent", sa.Boolean),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("custom", JSON, nullable=False, server_default=EMPTY),
        sa.Column("provenance", JSON, nullable=False, server_default=EMPTY),
        sa.UniqueConstraint("email", name="uq_leads_email"),
    )
    _index("leads", "industry", "employees")
    _index("leads", "stage")

    _create(
        "events", _pk(),
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        *(sa.Column(c, sa.Text) for c in (
            "url", "link", "template", "flow", "step", "campaign", "asset", "name", "form",
            "from_stage", "to_stage")),
        sa.Column("properties", JSON),
        sa.Column("source", sa.Text),
        sa.Column("dedupe_key", sa.Text),
        sa.Column("import_id", ID),
    )
    _index("events", "lead_id", "type", "occurred_at")
    _index("events", "type", "occurred_at")
    _index("events", "dedupe_key", unique=True, where="dedupe_key IS NOT NULL")

    _create(
        "identities", _pk(),
        sa.Column("visitor_id", sa.Text, nullable=False),
        _lead_fk("identities"),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.UniqueConstraint("visitor_id", name="uq_identities_visitor_id"),
    )
    _index("identities", "lead_id")

    _create(
        "suppressions", _pk(),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False, server_default="global"),
        sa.Column("source", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(_one_of("reason", ("unsubscribe", "bounce", "complaint", "manual",
                                              "erasure", "role_address")),
                           name="ck_suppressions_reason"),
        sa.UniqueConstraint("email_hash", "scope", "reason",
                            name="uq_suppressions_email_hash_scope_reason"),
    )

    _create(
        "flow_versions", _pk(),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("flow", "version", name="uq_flow_versions_flow_version"),
    )

    _create(
        "enrollments", _pk(),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _lead_fk("enrollments"),
        sa.Column("step", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("wake_at", TS),
        sa.Column("waiting_for", JSON),
        sa.Column("entry_number", sa.Integer, nullable=False, server_default="1"),
        sa.Column("counters", JSON, nullable=False, server_default=EMPTY),
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("entered_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("end_reason", sa.Text),
        sa.CheckConstraint(_one_of("state", ("active", "waiting", "completed", "exited", "goal",
                                             "failed")),
                           name="ck_enrollments_state"),
    )
    _index("enrollments", "flow", "lead_id", unique=True, where="ended_at IS NULL",
           name="uq_enrollments_flow_lead_live")
    _index("enrollments", "state", "wake_at")
    _index("enrollments", "lead_id")

    _create(
        "outbox", _pk(),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("enrollment_id", ID,
                  sa.ForeignKey("enrollments.id", ondelete="CASCADE",
                                name="fk_outbox_enrollment_id_enrollments"),
                  nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("occurrence", sa.Text, nullable=False),
        _lead_fk("outbox"),
        sa.Column("flow_version", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("template", sa.Text),
        sa.Column("payload", JSON),
        sa.Column("message_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_by", sa.Text),
        sa.Column("lease_until", TS),
        sa.Column("last_reply_code", sa.Integer),
        sa.Column("last_reply_text", sa.Text),
        sa.Column("relay_id", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.CheckConstraint(_one_of("status", ("pending", "claimed", "sending", "sent", "deferred",
                                              "failed", "suppressed", "unknown", "cancelled")),
                           name="ck_outbox_status"),
        sa.UniqueConstraint("flow", "enrollment_id", "step", "occurrence",
                            name="uq_outbox_flow_enrollment_id_step_occurrence"),
        sa.UniqueConstraint("message_id", name="uq_outbox_message_id"),
    )
    _index("outbox", "status", "next_attempt_at")
    _index("outbox", "lead_id", "created_at")

    _create(
        "tracked_tokens", _pk(),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("outbox_id", ID, sa.ForeignKey("outbox.id", ondelete="CASCADE",
                                                 name="fk_tracked_tokens_outbox_id_outbox")),
        _lead_fk("tracked_tokens"),
        sa.Column("url", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.UniqueConstraint("token", name="uq_tracked_tokens_token"),
    )
    _index("tracked_tokens", "outbox_id")

    _create(
        "audit", _pk(),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("details", JSON),
    )
    _index("audit", "at")
    _index("audit", "subject")

    _create(
        "imports", _pk(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("encoding", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        *(sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in (
            "rows_total", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected")),
        sa.Column("report", JSON),
        sa.CheckConstraint(_one_of("status", ("running", "done", "failed")),
                           name="ck_imports_status"),
    )


def downgrade() -> None:
    for table in ("imports", "audit", "tracked_tokens", "outbox", "enrollments", "flow_versions",
                  "suppressions", "identities", "events", "leads"):
        op.drop_table(table)

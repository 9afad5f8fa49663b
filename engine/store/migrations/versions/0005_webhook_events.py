"""Bounce, complaint and delivery reports from the relay or ESP: ``webhook_events``, one row per
(source, event id), so that a report delivered twice is acted on once (engine.track.hooks).

A new table only: instant on SQLite and PostgreSQL, whatever the size of the store.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Frozen like 0001: this revision spells out its types instead of importing the schema module.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("occurred_at", UTCDateTime),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("severity", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("outbox_id", BigId),
        sa.Column("reason", sa.Text),
        sa.Column("effect", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_webhook_events"),
        sa.CheckConstraint("kind IN ('bounce', 'complaint', 'delivered', 'deferred')",
                           name="ck_webhook_events_kind"),
    )
    op.create_index("ix_webhook_events_email_hash", "webhook_events", ["email_hash"])
    op.create_index("ix_webhook_events_kind_received_at", "webhook_events",
                    ["kind", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_kind_received_at", "webhook_events")
    op.drop_index("ix_webhook_events_email_hash", "webhook_events")
    op.drop_table("webhook_events")

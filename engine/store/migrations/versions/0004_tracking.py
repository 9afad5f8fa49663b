"""The tracking server's storage: ``events.machine`` (clicks and opens that look automated) and
``anonymous_views`` (page views of web visitors not yet known as a lead).

Adding a nullable column without a default is instant on PostgreSQL and a plain ``ALTER TABLE
ADD COLUMN`` on SQLite (batch mode does not rebuild the table for it): safe on a store with
millions of events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen like 0001: this revision spells out its types instead of importing the schema module.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)
OptionalJSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("machine", sa.Boolean))
    op.create_table(
        "anonymous_views",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("visitor_id", sa.Text, nullable=False),
        sa.Column("view_id", sa.Text, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("properties", OptionalJSONDoc),
        sa.PrimaryKeyConstraint("id", name="pk_anonymous_views"),
        sa.UniqueConstraint("visitor_id", "view_id",
                            name="uq_anonymous_views_visitor_id_view_id"),
    )
    op.create_index("ix_anonymous_views_occurred_at", "anonymous_views", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_anonymous_views_occurred_at", "anonymous_views")
    op.drop_table("anonymous_views")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("machine")

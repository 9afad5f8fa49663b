"""The runtime's tables: the journal of enrollment transitions, lead tags, the engine's own
settings (the generated signing secret), and ``outbox.reason``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen like 0001: this revision spells out its types instead of importing the schema module.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)
OptionalJSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("reason", sa.Text))
    op.create_table(
        "journal",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("enrollment_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("step", sa.Text),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("details", OptionalJSONDoc),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
    )
    op.create_index("ix_journal_lead_id_at", "journal", ["lead_id", "at"])
    op.create_index("ix_journal_enrollment_id", "journal", ["enrollment_id"])
    op.create_table(
        "lead_tags",
        sa.Column("lead_id", BigId, sa.ForeignKey("leads.id", ondelete="CASCADE",
                                                  name="fk_lead_tags_lead_id_leads"),
                  nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "tag", name="pk_lead_tags"),
    )
    op.create_index("ix_lead_tags_tag", "lead_tags", ["tag"])
    op.create_table(
        "settings",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_index("ix_lead_tags_tag", "lead_tags")
    op.drop_table("lead_tags")
    op.drop_index("ix_journal_enrollment_id", "journal")
    op.drop_index("ix_journal_lead_id_at", "journal")
    op.drop_table("journal")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("reason")

"""leads.legal_basis: how the lead's consent to marketing mail was obtained.

Japan's Act on Specified Electronic Mail (特定電子メール法) requires an opt-in, or one of its
exceptions such as a business card handed over, and a record of it. Imports list leads in Japan
without one; the policy gate will not send them marketing mail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("legal_basis", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("legal_basis")

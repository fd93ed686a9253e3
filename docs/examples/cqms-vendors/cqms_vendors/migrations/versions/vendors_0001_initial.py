"""Create the vendors_vendor table

Revision ID: vendors_0001
Revises:
Created: 2026-12-05 22:27:35
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vendors_0001"
down_revision = None
branch_labels = ("vendors",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "vendors_vendor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=60), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["core_record.id"],
                                name=op.f("fk_vendors_vendor_id_core_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_vendor")),
    )


def downgrade() -> None:
    op.drop_table("vendors_vendor")

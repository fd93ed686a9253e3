"""Periodic reviews

Revision ID: core_0005
Revises: core_0004
Created: 2026-12-05 03:00:00

``core_periodic_review``: the scheduled audit-trail and user-access reviews, with what to review
fixed at creation and the reviewer's outcome, completed with a signature.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_periodic_review",
        sa.Column("id", sa.Integer(), sa.ForeignKey("core_record.id"), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, server_default=""),
        sa.Column("period_start", sa.DateTime(timezone=True)),
        sa.Column("period_end", sa.DateTime(timezone=True)),
        sa.Column("snapshot", sa.Text(), nullable=False, server_default=""),
        sa.Column("flagged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("outcome", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_core_periodic_review_kind", "core_periodic_review", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_core_periodic_review_kind", "core_periodic_review")
    op.drop_table("core_periodic_review")

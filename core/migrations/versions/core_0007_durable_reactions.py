"""Durable reactions

Revision ID: core_0007
Revises: core_0006
Created: 2026-12-05 08:30:00

``core_reaction``: each plugin's reaction to a committed change, written with the change and
run after it, retried with backoff when it fails.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0007"
down_revision = "core_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_reaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hook", sa.String(length=64), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_reaction")),
    )
    op.create_index("ix_core_reaction_due", "core_reaction", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_core_reaction_due", table_name="core_reaction")
    op.drop_table("core_reaction")

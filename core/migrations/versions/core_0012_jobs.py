"""Jobs

Revision ID: core_0012
Revises: core_0011
Created: 2026-12-05 21:00:00

``core_job``: long work a user started (exports), its progress and its result file, run by a
worker or a thread of the web process (core.jobs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0012"
down_revision = "core_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_name", sa.String(length=200), nullable=False),
        sa.Column("result_type", sa.String(length=100), nullable=False),
        sa.Column("result_size", sa.Integer(), nullable=False),
        sa.Column("result_sha256", sa.String(length=64), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["requested_by_id"], ["core_user.id"],
                                name=op.f("fk_core_job_requested_by_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_job")),
    )
    op.create_index("ix_core_job_owner", "core_job", ["requested_by_id", "id"])
    op.create_index("ix_core_job_state", "core_job", ["state", "heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_core_job_state", table_name="core_job")
    op.drop_index("ix_core_job_owner", table_name="core_job")
    op.drop_table("core_job")

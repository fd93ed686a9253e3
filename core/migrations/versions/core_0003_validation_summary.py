"""Validation summary records

Revision ID: core_0003
Revises: core_0002
Created: 2026-12-05 02:15:00

``core_validation_summary``: the evidence of one test run (commit, counts, installed
components with checksums) as a controlled record that QA approves with an e-signature.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_validation_summary",
        sa.Column("id", sa.Integer(), sa.ForeignKey("core_record.id"), primary_key=True),
        sa.Column("commit", sa.String(64), nullable=False, server_default=""),
        sa.Column("core_version", sa.String(32), nullable=False, server_default=""),
        sa.Column("results_sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("requirements_proven", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("requirements_unproven", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("requirements_not_claimed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tests_passed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tests_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tests_skipped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("components", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("core_validation_summary")

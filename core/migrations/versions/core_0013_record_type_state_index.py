"""Record counts by type and state

Revision ID: core_0013
Revises: core_0012
Created: 2026-12-05 23:45:00

An index on ``core_record (type, state)``: the dashboard's records-by-state counts and plugin
boards read it alone instead of every row of the type (measured in bench.capa at 100k events).
"""

from __future__ import annotations

from alembic import op

revision = "core_0013"
down_revision = "core_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_record", schema=None) as batch_op:
        batch_op.create_index("ix_core_record_type_state", ["type", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_record", schema=None) as batch_op:
        batch_op.drop_index("ix_core_record_type_state")

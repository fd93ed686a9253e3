"""Typed links end instead of disappearing

Revision ID: core_0006
Revises: core_0005
Created: 2026-12-05 08:00:00

``core_record_link`` gets ``ended_at``, ``ended_by_id`` and ``end_reason``; the unique
constraint on (source, target, kind) becomes a unique index over live links only, so a link
ended with a reason can be made again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0006"
down_revision = "core_0005"
branch_labels = None
depends_on = None

LIVE = sa.text("ended_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("core_record_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("end_reason", sa.String(length=2000), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_core_record_link_ended_by_id_core_user"),
                                    "core_user", ["ended_by_id"], ["id"])
        batch_op.drop_constraint("uq_core_record_link_source_id_target_id_kind", type_="unique")
        batch_op.create_index("uq_core_record_link_live", ["source_id", "target_id", "kind"],
                              unique=True, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    with op.batch_alter_table("core_record_link", schema=None) as batch_op:
        batch_op.drop_index("uq_core_record_link_live")
        batch_op.create_unique_constraint("uq_core_record_link_source_id_target_id_kind",
                                          ["source_id", "target_id", "kind"])
        batch_op.drop_constraint(batch_op.f("fk_core_record_link_ended_by_id_core_user"),
                                 type_="foreignkey")
        batch_op.drop_column("end_reason")
        batch_op.drop_column("ended_by_id")
        batch_op.drop_column("ended_at")

"""Partitioned audit chains

Revision ID: core_0008
Revises: core_0007
Created: 2026-12-05 18:10:00

``core_audit_entry.chain``: the chain an entry is linked into (every existing entry is chain 0,
the one chain of earlier trails), indexed with the id for each chain's head and for verify; on
PostgreSQL, ``core_audit_entry_id_seq`` numbers new entries from the current highest id.
``core_audit_checkpoint.chain``: the chain a stored checkpoint signs. See docs/decisions.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0008"
down_revision = "core_0007"
branch_labels = None
depends_on = None

SEQUENCE = "core_audit_entry_id_seq"


def upgrade() -> None:
    for table in ("core_audit_entry", "core_audit_checkpoint"):
        op.add_column(table, sa.Column("chain", sa.SmallInteger(), server_default="0",
                                       nullable=False))
    op.create_index("ix_core_audit_entry_chain", "core_audit_entry", ["chain", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence(SEQUENCE)))
        op.execute("SELECT setval('core_audit_entry_id_seq', max(id)) FROM core_audit_entry "
                   "HAVING max(id) IS NOT NULL")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM core_audit_entry WHERE chain <> 0 LIMIT 1")).first():
        raise RuntimeError("the trail has entries on chains other than 0: the single-chain "
                           "schema cannot hold them (restore a backup taken before the upgrade)")
    if bind.dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence(SEQUENCE)))
    op.drop_index("ix_core_audit_entry_chain", table_name="core_audit_entry")
    for table in ("core_audit_entry", "core_audit_checkpoint"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN chain")

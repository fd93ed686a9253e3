"""Change stamps

Revision ID: core_0011
Revises: core_0010
Created: 2026-12-05 19:20:00

``core_change_stamp``: a counter per kind of data processes keep between requests (role grants,
plugin states), bumped by triggers on every change to its tables (core.stamps).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.stamps import STAMPED, stamp_ddl

revision = "core_0011"
down_revision = "core_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_change_stamp",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_core_change_stamp")),
    )
    for statement in stamp_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for tables in STAMPED.values():
        for table in tables:
            if postgresql:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp ON {table}")
            else:
                for verb in ("insert", "update", "delete"):
                    op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{verb}")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS core_change_stamp_bump()")
    op.drop_table("core_change_stamp")

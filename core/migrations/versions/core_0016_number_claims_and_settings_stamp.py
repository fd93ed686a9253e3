"""Number claims; settings kept between requests

Revision ID: core_0016
Revises: core_0015
Created: 2026-12-06 05:20:00

core_number_claim: numbers drawn from a counter by creations not yet committed (PostgreSQL
numbering no longer holds the counter's lock until the creation commits). A ``settings`` change
stamp, bumped by triggers on core_setting, so a process keeps the settings between requests.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0016"
down_revision = "core_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_number_claim",
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_type", "period", "value",
                                name=op.f("pk_core_number_claim")),
    )
    op.execute("INSERT INTO core_change_stamp (key, value) VALUES ('settings', 0) "
               "ON CONFLICT (key) DO NOTHING")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE TRIGGER core_setting_stamp AFTER INSERT OR UPDATE OR "
                   "DELETE OR TRUNCATE ON core_setting FOR EACH STATEMENT EXECUTE FUNCTION "
                   "core_change_stamp_bump('settings')")
    else:
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS core_setting_stamp_{verb.lower()} AFTER "  # noqa: S608 - constants
                       f"{verb} ON core_setting BEGIN UPDATE core_change_stamp SET value = "
                       "value + 1 WHERE key = 'settings'; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS core_setting_stamp ON core_setting")
    else:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS core_setting_stamp_{verb}")
    op.execute("DELETE FROM core_change_stamp WHERE key = 'settings'")
    op.drop_table("core_number_claim")

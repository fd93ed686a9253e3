"""Attachments are part of the record's content and append-only in the database

Revision ID: core_0002
Revises: core_0001
Created: 2026-11-26

``core_record.attachments_digest`` chains the SHA-256 of each attachment into the record's
content hash (so signatures cover the files). Triggers refuse UPDATE, DELETE (and TRUNCATE on
PostgreSQL) of core_attachment rows, as for the audit trail; a new upload is a new row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Kept here rather than imported so this revision never changes after release.
APPEND_ONLY = {
    "sqlite": (
        "CREATE TRIGGER core_attachment_no_update BEFORE UPDATE ON core_attachment BEGIN SELECT RAISE(ABORT, 'core_attachment is append-only'); END",
        "CREATE TRIGGER core_attachment_no_delete BEFORE DELETE ON core_attachment BEGIN SELECT RAISE(ABORT, 'core_attachment is append-only'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION core_attachment_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'core_attachment is append-only'; END $$",
        'CREATE TRIGGER core_attachment_no_change BEFORE UPDATE OR DELETE ON core_attachment FOR EACH ROW EXECUTE FUNCTION core_attachment_append_only()',
        'CREATE TRIGGER core_attachment_no_truncate BEFORE TRUNCATE ON core_attachment FOR EACH STATEMENT EXECUTE FUNCTION core_attachment_append_only()',
    ),
}
DROP_APPEND_ONLY = {
    "sqlite": (
        'DROP TRIGGER IF EXISTS core_attachment_no_update',
        'DROP TRIGGER IF EXISTS core_attachment_no_delete',
    ),
    "postgresql": (
        'DROP TRIGGER IF EXISTS core_attachment_no_truncate ON core_attachment',
        'DROP TRIGGER IF EXISTS core_attachment_no_change ON core_attachment',
        'DROP FUNCTION IF EXISTS core_attachment_append_only()',
    ),
}

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def _run(statements: dict[str, tuple[str, ...]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("core_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments_digest", sa.String(length=64),
                                      server_default="", nullable=False))
    _run(APPEND_ONLY)


def downgrade() -> None:
    _run(DROP_APPEND_ONLY)
    with op.batch_alter_table("core_record", schema=None) as batch_op:
        batch_op.drop_column("attachments_digest")

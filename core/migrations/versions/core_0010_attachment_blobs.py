"""Attachment blobs

Revision ID: core_0010
Revises: core_0009
Created: 2026-12-05 18:50:00

``core_attachment_blob``: attached files kept in the database (ATTACHMENT_STORAGE =
"database"), append-only like the attachment rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0010"
down_revision = "core_0009"
branch_labels = None
depends_on = None

APPEND_ONLY = {
    "sqlite": (
        "CREATE TRIGGER core_attachment_blob_no_update BEFORE UPDATE ON core_attachment_blob "
        "BEGIN SELECT RAISE(ABORT, 'core_attachment_blob is append-only'); END",
        "CREATE TRIGGER core_attachment_blob_no_delete BEFORE DELETE ON core_attachment_blob "
        "BEGIN SELECT RAISE(ABORT, 'core_attachment_blob is append-only'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION core_attachment_blob_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'core_attachment_blob is append-only'; "
        "END $$",
        "CREATE TRIGGER core_attachment_blob_no_change BEFORE UPDATE OR DELETE ON "
        "core_attachment_blob FOR EACH ROW EXECUTE FUNCTION core_attachment_blob_append_only()",
        "CREATE TRIGGER core_attachment_blob_no_truncate BEFORE TRUNCATE ON core_attachment_blob "
        "FOR EACH STATEMENT EXECUTE FUNCTION core_attachment_blob_append_only()",
    ),
}


def upgrade() -> None:
    op.create_table(
        "core_attachment_blob",
        sa.Column("storage_name", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("storage_name", name=op.f("pk_core_attachment_blob")),
    )
    for statement in APPEND_ONLY.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT 1 FROM core_attachment_blob LIMIT 1")).first():
        raise RuntimeError("attachments are stored in the database: a downgrade would lose them "
                           "(restore a backup taken before the upgrade)")
    op.drop_table("core_attachment_blob")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS core_attachment_blob_append_only()")

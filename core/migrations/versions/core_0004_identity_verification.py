"""Identity verified before e-signatures

Revision ID: core_0004
Revises: core_0003
Created: 2026-12-05 02:30:00

``core_user.identity_verified_at`` and ``identity_verified_by_id`` (21 CFR 11.100(b)): an
administrator verified the person's identity. Existing accounts start unverified: nobody can
know who verified them, so an administrator verifies each signer once after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


FK = "fk_core_user_identity_verified_by_id_core_user"


def upgrade() -> None:
    op.add_column("core_user", sa.Column("identity_verified_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a referencing column in place; a batch copy of core_user would not do
        # with every table referencing it.
        op.execute(f"ALTER TABLE core_user ADD COLUMN identity_verified_by_id INTEGER "
                   f"CONSTRAINT {FK} REFERENCES core_user (id)")
    else:
        op.add_column("core_user", sa.Column("identity_verified_by_id", sa.Integer()))
        op.create_foreign_key(FK, "core_user", "core_user", ["identity_verified_by_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK, "core_user", type_="foreignkey")
    op.drop_column("core_user", "identity_verified_by_id")
    op.drop_column("core_user", "identity_verified_at")

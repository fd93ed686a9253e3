"""Named reviewers of document versions

Revision ID: documents_0004
Revises: documents_0003
Created: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'documents_0004'
down_revision = 'documents_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('documents_version_reviewer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['core_user.id'], name=op.f('fk_documents_version_reviewer_added_by_id_core_user')),
    sa.ForeignKeyConstraint(['removed_by_id'], ['core_user.id'], name=op.f('fk_documents_version_reviewer_removed_by_id_core_user')),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_documents_version_reviewer_user_id_core_user')),
    sa.ForeignKeyConstraint(['version_id'], ['documents_version.id'], name=op.f('fk_documents_version_reviewer_version_id_documents_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents_version_reviewer')),
    sa.UniqueConstraint('version_id', 'user_id', name=op.f('uq_documents_version_reviewer_version_id_user_id'))
    )
    with op.batch_alter_table('documents_version_reviewer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_version_reviewer_version_id'), ['version_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('documents_version_reviewer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_version_reviewer_version_id'))

    op.drop_table('documents_version_reviewer')

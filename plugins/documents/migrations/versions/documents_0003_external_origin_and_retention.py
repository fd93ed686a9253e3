"""External-origin documents (source, external version and date, distribution roles) and the
retention period of obsolete documents per type

Revision ID: documents_0003
Revises: documents_0002
Created: 2026-12-02 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'documents_0003'
down_revision = 'documents_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get the models' defaults (server defaults only for the upgrade).
    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('external_version', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('external_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('distribution_roles', sa.String(length=500), server_default='', nullable=False))

    with op.batch_alter_table('documents_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retain_obsolete_for_months', sa.Integer(), server_default='120', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('documents_type', schema=None) as batch_op:
        batch_op.drop_column('retain_obsolete_for_months')

    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.drop_column('distribution_roles')
        batch_op.drop_column('external_date')
        batch_op.drop_column('external_version')
        batch_op.drop_column('source')

"""Start the documents branch

Revision ID: documents_0001
Revises: 
Created: 2026-11-26 17:01:41.951009
"""

from __future__ import annotations

revision = 'documents_0001'
down_revision = None
branch_labels = ('documents',)
depends_on = 'core_0001'


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

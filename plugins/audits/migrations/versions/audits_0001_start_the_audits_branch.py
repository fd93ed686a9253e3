"""Start the audits branch

Revision ID: audits_0001
Revises: 
Created: 2026-11-26 17:01:44.542660
"""

from __future__ import annotations

revision = 'audits_0001'
down_revision = None
branch_labels = ('audits',)
depends_on = 'core_0001'


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

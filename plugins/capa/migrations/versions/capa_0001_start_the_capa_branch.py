"""Start the capa branch

Revision ID: capa_0001
Revises: 
Created: 2026-11-26 17:01:43.706734
"""

from __future__ import annotations

revision = 'capa_0001'
down_revision = None
branch_labels = ('capa',)
depends_on = 'core_0001'


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Start the training branch

Revision ID: training_0001
Revises: 
Created: 2026-11-26 17:01:42.857415
"""

from __future__ import annotations

revision = 'training_0001'
down_revision = None
branch_labels = ('training',)
depends_on = 'core_0001'


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

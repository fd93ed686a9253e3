"""Record search index

Revision ID: core_0009
Revises: core_0008
Created: 2026-12-05 18:40:00

Searching records by number or title through an index (core.records.search): trigram GIN
indexes on PostgreSQL (extension pg_trgm), an FTS5 trigram table kept by triggers on SQLite,
filled from the records already there.
"""

from __future__ import annotations

from alembic import op

from core.records.search import create_search_index, drop_search_index

revision = "core_0009"
down_revision = "core_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_search_index(op.get_bind())


def downgrade() -> None:
    drop_search_index(op.get_bind())

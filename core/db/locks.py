"""Transaction-scoped named locks: serialise work on one key (a record's tasks, say) across
processes until the transaction ends. PostgreSQL: an advisory lock on (namespace, hash of the
key); SQLite: nothing to do, ``BEGIN IMMEDIATE`` already holds the database's one write lock."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

# Advisory-lock namespaces (the first of the two int4 keys); core.audit.chain uses 0x43514D53.
TASKS = 0x43514D01


def lock_key(connection: Connection, namespace: int, key: str) -> None:
    """Hold the lock on ``key`` in ``namespace`` until ``connection``'s transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(namespace, func.hashtext(key))))

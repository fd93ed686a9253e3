"""Named locks across processes and nodes. ``lock_key``: serialise work on one key (a record's
tasks, say) until the transaction ends. ``lease``: let one process of all nodes do a job (the
scheduler's cycle) while the others skip it. PostgreSQL: advisory locks on (namespace, hash of
the key); SQLite: nothing to do, ``BEGIN IMMEDIATE`` already holds the database's one write
lock and there is one machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

# Advisory-lock namespaces (the first of the two int4 keys); core.audit.chain uses 0x43514D53.
TASKS = 0x43514D01
LEASES = 0x43514D02


def lock_key(connection: Connection, namespace: int, key: str) -> None:
    """Hold the lock on ``key`` in ``namespace`` until ``connection``'s transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(namespace, func.hashtext(key))))


@contextmanager
def lease(engine: Engine, key: str) -> Iterator[bool]:
    """Whether this process holds the lease on ``key`` across every node (PostgreSQL: a
    session advisory lock on a connection of its own, given back when the block ends or the
    process dies); never waits. SQLite: always True (one machine, one database file)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        held = bool(connection.execute(
            select(func.pg_try_advisory_lock(LEASES, func.hashtext(key)))).scalar())
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(select(func.pg_advisory_unlock(LEASES, func.hashtext(key))))
                connection.commit()

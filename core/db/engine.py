"""Engine tuning: SQLite pragmas and BEGIN IMMEDIATE for writing transactions."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

# Read-only scopes (safe HTTP methods) open a deferred transaction; everything else takes the
# write lock up front so concurrent writers wait (busy_timeout) instead of failing mid-way.
SQLITE_BUSY_TIMEOUT_MS = 15000
_read_only: contextvars.ContextVar[bool] = contextvars.ContextVar("cqms_read_only", default=False)


@contextmanager
def read_only_scope() -> Iterator[None]:
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def in_read_only_scope() -> bool:
    return _read_only.get()


def set_read_only(value: bool) -> contextvars.Token[bool]:
    return _read_only.set(value)


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control away from pysqlite so our BEGIN is the one that runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")


def refresh_statistics(connection: Connection) -> None:
    """Keep SQLite's planner statistics current (a sampled ANALYZE: milliseconds), so it knows
    a record type holds a million rows and drives a search from the few the index found.
    PostgreSQL's autovacuum does this itself. Run by the scheduler and after migrations."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        connection.exec_driver_sql("ANALYZE")

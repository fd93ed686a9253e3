"""PostgreSQL databases of the test harness: created, copied from a template, dropped.

Database names cannot be bound parameters, so they are quoted by the dialect here, in one
place. ``worker_database`` gives each pytest-xdist worker a database of its own beside the one
``CQMS_TEST_POSTGRES_URL`` names (tests wipe their database, so two workers cannot share one).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

URL_VARIABLE = "CQMS_TEST_POSTGRES_URL"
_SHARED_URL = pytest.StashKey[str]()  # a pytest-xdist worker's: the URL it was given


def admin_engine(url: str) -> Engine:
    """An autocommit engine on the server's ``postgres`` database (for CREATE/DROP DATABASE)."""
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def drop_database(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quoted(conn, name)} WITH (FORCE)")


def create_database(conn: Connection, name: str, template: str | None = None) -> None:
    """A fresh ``name`` (dropped first), empty or a copy of ``template``. A copy needs its
    source idle: other sessions on it (a connection an earlier test's child process or pool
    left open for a moment) are ended first; every test database belongs to one process."""
    drop_database(conn, name)
    if template is None:
        conn.exec_driver_sql(f"CREATE DATABASE {_quoted(conn, name)}")
        return
    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": template})
    conn.exec_driver_sql(f"CREATE DATABASE {_quoted(conn, name)} "
                         f"TEMPLATE {_quoted(conn, template)}")


def reset_schema(url: str) -> None:
    """Empty ``url``'s database (its ``public`` schema dropped and created again)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def start_worker_database(config: pytest.Config) -> None:
    """In a pytest-xdist worker, point ``CQMS_TEST_POSTGRES_URL`` at a database of its own."""
    worker, shared_url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get(URL_VARIABLE, "")
    if worker and shared_url and hasattr(config, "workerinput"):
        os.environ[URL_VARIABLE] = worker_database(shared_url, worker)
        config.stash[_SHARED_URL] = shared_url


def end_worker_database(config: pytest.Config) -> None:
    shared_url = config.stash.get(_SHARED_URL, "")
    if shared_url:
        drop_worker_database(shared_url, os.environ[URL_VARIABLE])
        os.environ[URL_VARIABLE] = shared_url


def worker_database(url: str, worker: str) -> str:
    """The URL of a fresh database for this pytest-xdist ``worker`` beside ``url``'s. Where it
    cannot be created, the worker's PostgreSQL tests report it unreachable."""
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    _on_server(url, lambda conn: create_database(conn, name))
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_worker_database(url: str, worker_url: str) -> None:
    """Drop the worker's database (a leftover is replaced by the worker's next run anyway)."""
    _on_server(url, lambda conn: drop_database(conn, make_url(worker_url).database or ""))


def _on_server(url: str, act: Any) -> None:
    try:
        engine = admin_engine(url)
        with engine.connect() as conn:
            act(conn)
        engine.dispose()
    except Exception:  # noqa: BLE001 - the PostgreSQL tests say so themselves (postgres_url)
        pass

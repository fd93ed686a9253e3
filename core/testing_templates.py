"""Template databases for the test harness (``core.testing``): ``create_schema`` once per kind.

An app's starting state (tables, seeded permissions and roles, the system user, the audit trail
of that seeding and its checkpoint) is decided by the backend, the tables and the declarations
the app loaded, and its configuration. The second time a test builds an app of the same kind on
an empty database, the database and the instance files (integrity key, checkpoint file) are
snapshotted after ``create_schema``; later tests of that kind get a copy instead of the set-up:
a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL (triggers included).

Never a template when a test's own plugin implements a hook that ran during ``create_schema``
or a reaction was queued (their side effects would be skipped), nor when key files live outside
the instance folder. A PostgreSQL test database serves one session at a time (as before): its
``<name>_tpl_*`` databases are dropped at the end, and leftovers of a killed session at the next.
``CQMS_TEST_TEMPLATES=0`` turns the whole mechanism off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.audit import checkpoints
from core.db import db
from core.db.migrate import plugin_tables
from core.reactions.models import Reaction
from core.testing_postgres import admin_engine, create_database, drop_database

# Configuration that names where a test's files or database live: not part of a template's kind.
_PER_TEST_CONFIG = frozenset({"INSTANCE_PATH", "DATABASE_URL"})
# Files of the state outside the instance folder: such apps are never templated.
_OUTSIDE_FILES = ("INTEGRITY_KEY_FILE", "AUDIT_CHECKPOINT_FILE")


def enabled() -> bool:
    return os.environ.get("CQMS_TEST_TEMPLATES", "1") not in ("0", "false", "no")


@dataclass
class Template:
    database: str  # SQLite: a file path; PostgreSQL: a database name
    instance: Path  # a copy of the instance folder after create_schema
    checkpoint_written: bool  # create_schema left the app's checkpoint writer just written


def _close_engines(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class SchemaTemplates:
    """This process's templates; ``close()`` drops the PostgreSQL ones."""

    def __init__(self, root: Path, postgres_url: str, tag: str = "tpl"):
        self.root = root
        self.postgres_url = postgres_url
        self.tag = tag  # PostgreSQL templates are named <test database>_<tag>_<key>
        self.seen: Counter[str] = Counter()
        self.templates: dict[str, Template] = {}
        self.pg_templates: list[str] = []
        self.stats: Counter[str] = Counter()

    # -- public -----------------------------------------------------------------------------

    def prepare(self, app: Flask, overrides: Mapping[str, Any], extra_plugins: Mapping[str, Any] | None,
                create_schema: Callable[[Flask], None]) -> None:
        """Give ``app`` its schema and seeded rows: from a template when one fits, else by
        ``create_schema`` (snapshotting the result when this kind was seen before)."""
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        backend = self._backend(url)
        if backend is None or not self._empty(backend, url) or self._files_outside(app):
            self.stats["plain"] += 1
            create_schema(app)
            return
        key = self._key(app, backend, overrides, extra_plugins)
        template = self.templates.get(key)
        if template is not None:
            self._restore(app, backend, url, template)
            self.stats["copied"] += 1
            return
        called = self._create_watching_hooks(app, create_schema)
        self.seen[key] += 1
        if self.seen[key] >= 2 and not _extra_hook_ran(app, extra_plugins, called) and (
                not _reactions_queued(app)):
            self.templates[key] = self._snapshot(app, backend, url, key)
            self.stats["templates"] += 1
        else:
            self.stats["created"] += 1

    def close(self) -> None:
        if not self.pg_templates:
            return
        engine = self._admin_engine()
        with engine.connect() as conn:
            for name in self.pg_templates:
                drop_database(conn, name)
        engine.dispose()
        self.pg_templates.clear()

    # -- deciding ---------------------------------------------------------------------------

    def _backend(self, url: str) -> str | None:
        if _sqlite_path(url) is not None:
            return "sqlite"
        if self.postgres_url and url == self.postgres_url:  # only ever the suite's own database
            return "postgresql"
        return None

    @staticmethod
    def _files_outside(app: Flask) -> bool:
        return any(app.config.get(name) for name in _OUTSIDE_FILES)

    def _empty(self, backend: str, url: str) -> bool:
        if backend == "sqlite":
            path = _sqlite_path(url)
            return path is not None and (not path.exists() or path.stat().st_size == 0)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                count = conn.scalar(text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public'"))
        finally:
            engine.dispose()
        return count == 0

    @staticmethod
    def _key(app: Flask, backend: str, overrides: Mapping[str, Any],
             extra_plugins: Mapping[str, Any] | None) -> str:
        state = app.extensions["cqms"]
        registry = state.registry
        tables = sorted(plugin_tables(app))
        parts = [
            backend,
            list(state.host.plugins),
            [(name, id(db.metadata.tables[name])) for name in tables],
            sorted((k, repr(v), registry.permission_owner.get(k)) for k, v in registry.permissions.items()),
            sorted((k, repr(v)) for k, v in registry.roles.items()),
            sorted((k, repr(v)) for k, v in overrides.items() if k not in _PER_TEST_CONFIG),
            sorted((k, sorted(_hook_names(state.host.pm, k))) for k in (extra_plugins or {})),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    @staticmethod
    def _create_watching_hooks(app: Flask, create_schema: Callable[[Flask], None]) -> set[str]:
        called: set[str] = set()
        undo = app.extensions["cqms"].host.pm.add_hookcall_monitoring(
            lambda name, _impls, _kwargs: called.add(name), lambda *_args: None)
        try:
            create_schema(app)
        finally:
            undo()
        return called

    # -- snapshot and restore ---------------------------------------------------------------

    def _snapshot(self, app: Flask, backend: str, url: str, key: str) -> Template:
        with app.app_context():
            writers = checkpoints._writers()
            written = bool(writers) and all(not w.pending and w.timer is None
                                            for w in writers.values())
        _close_engines(app)
        instance = self.root / f"{key[:16]}-instance"
        shutil.copytree(app.instance_path, instance, dirs_exist_ok=True)
        if backend == "sqlite":
            path = self.root / f"{key[:16]}.sqlite3"
            source = sqlite3.connect(_sqlite_path(url))
            target = sqlite3.connect(path)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            return Template(str(path), instance, written)
        name = self._pg_template_name(url, key)
        engine = self._admin_engine()
        if not self.pg_templates:
            self._drop_leftovers(engine, url)
        self.pg_templates.append(name)
        with engine.connect() as conn:
            create_database(conn, name, template=make_url(url).database)
        engine.dispose()
        return Template(name, instance, written)

    def _restore(self, app: Flask, backend: str, url: str, template: Template) -> None:
        _close_engines(app)
        if backend == "sqlite":
            path = _sqlite_path(url)
            assert path is not None
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(template.database, path)
        else:
            database = make_url(url).database
            engine = self._admin_engine()
            with engine.connect() as conn:
                create_database(conn, database, template=template.database)
            engine.dispose()
        shutil.copytree(template.instance, app.instance_path, dirs_exist_ok=True)
        if template.checkpoint_written:  # as create_schema leaves it: the next head waits
            with app.app_context():
                checkpoints.writer().last_written = time.monotonic()

    def _drop_leftovers(self, engine: Any, url: str) -> None:
        """Templates of an earlier session that was killed (one session per test database)."""
        prefix = self._pg_template_name(url, "")
        with engine.connect() as conn:
            names = conn.scalars(text("SELECT datname FROM pg_database WHERE left(datname, :n) = :p"),
                                 {"n": len(prefix), "p": prefix}).all()
            for name in names:
                drop_database(conn, name)

    def _admin_engine(self) -> Any:
        return admin_engine(self.postgres_url)

    def _pg_template_name(self, url: str, key: str) -> str:
        return f"{make_url(url).database[:40]}_{self.tag}_{key[:16]}"


def _hook_names(pm: Any, key: str) -> set[str]:
    plugin = pm.get_plugin(key)
    if plugin is None:
        return set()
    return {caller.name for caller in pm.get_hookcallers(plugin) or []}


def _reactions_queued(app: Flask) -> bool:
    """Reactions call plugins' functions directly (not through pluggy): none may have run."""
    from sqlalchemy import func, select

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Reaction))
        db.session.remove()
    return bool(count)


def _extra_hook_ran(app: Flask, extra_plugins: Mapping[str, Any] | None, called: set[str]) -> bool:
    """Whether a test's own plugin implements a hook that ran during create_schema."""
    pm = app.extensions["cqms"].host.pm
    return any(_hook_names(pm, key) & called for key in (extra_plugins or {}))

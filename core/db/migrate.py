"""Alembic, driven from the app: one environment, one labelled branch per plugin (core included).

Revision ids are ``<plugin>_<NNNN>``; each branch's first revision carries the plugin key as its
branch label and ``depends_on`` the core revision it needs. Nothing here runs on web start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from core.db import db
from core.db.engine import refresh_statistics
from core.db.unmodelled import is_unmodelled
from core.errors import ValidationError

ENV_DIR = Path(__file__).resolve().parent.parent / "migrations"
REVISION_ID = re.compile(r"^(?P<plugin>[a-z][a-z0-9_]*)_(?P<n>\d{4})$")


def _state(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["cqms"]


def plugin_tables(app: Flask, plugin: str | None = None) -> frozenset[str]:
    """Tables of one plugin's registered models, or of every allowed plugin."""
    models = _state(app).registry.models
    keys = [plugin] if plugin else list(models)
    return frozenset(m.__table__.name for key in keys for m in models.get(key, []))


def _config(app: Flask, connection, tables: frozenset[str]) -> Config:  # type: ignore[no-untyped-def]
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [str(b.directory) for _key, b in _state(app).registry.migrations]
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["connection"] = connection
    cfg.attributes["tables"] = tables
    return cfg


@contextmanager
def _alembic(app: Flask, tables: frozenset[str] | None = None) -> Iterator[Config]:
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            yield _config(app, connection, plugin_tables(app) if tables is None else tables)
            if connection.in_transaction():
                connection.commit()


def script_directory(app: Flask) -> ScriptDirectory:
    with app.app_context():
        return ScriptDirectory.from_config(_config(app, None, frozenset()))


def upgrade(app: Flask, target: str = "heads") -> None:
    with _alembic(app) as cfg:
        command.upgrade(cfg, target)
    with app.app_context(), db.engine.begin() as connection:
        refresh_statistics(connection)


def downgrade(app: Flask, target: str) -> None:
    if "@" not in target and target not in _known_revisions(app):
        raise ValidationError(
            {"target": f"unknown revision {target!r}; use KEY@base, KEY@-1 or a revision id"}
        )
    with _alembic(app) as cfg:
        command.downgrade(cfg, target)


def _known_revisions(app: Flask) -> set[str]:
    return {rev.revision for rev in script_directory(app).walk_revisions()}


def current_heads(app: Flask) -> set[str]:
    with app.app_context(), db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def pending(app: Flask) -> bool:
    """True when the database is behind the code's migrations."""
    script = script_directory(app)
    applied: set[str] = set()
    todo = list(current_heads(app))
    while todo:
        rev_id = todo.pop()
        if rev_id in applied:
            continue
        applied.add(rev_id)
        rev = script.get_revision(rev_id)
        for parents in (rev.down_revision, rev.dependencies):
            todo.extend([parents] if isinstance(parents, str) else list(parents or ()))
    return any(rev.revision not in applied for rev in script.walk_revisions())


def schema_differences(app: Flask) -> list:  # type: ignore[type-arg]
    """Autogenerate's diff between the migrated database and the models (empty means equal);
    objects made by DDL rather than declared on the models are left out (core.db.unmodelled)."""
    tables = plugin_tables(app)
    with app.app_context(), db.engine.connect() as connection:
        ctx = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _p: (type_ != "table" or name in tables)
                and not is_unmodelled(name),
                "include_object": lambda obj, name, type_, _r, _c: (type_ != "table"
                                                                    or name in tables)
                and not is_unmodelled(name),
            },
        )
        return compare_metadata(ctx, db.metadata)


def _next_revision_id(app: Flask, plugin: str) -> tuple[str, bool]:
    numbers = [
        int(m["n"])
        for rev in _known_revisions(app)
        if (m := REVISION_ID.match(rev)) and m["plugin"] == plugin
    ]
    return f"{plugin}_{max(numbers, default=0) + 1:04d}", not numbers


def revision(app: Flask, plugin: str, message: str, *, autogenerate: bool = False) -> Path:
    """Write the next revision of ``plugin``'s branch (autogenerate sees only its tables)."""
    branches = dict(_state(app).registry.migrations)
    if plugin not in branches:
        raise ValidationError({"plugin": f"{plugin!r} has no migration branch in this deployment"})
    if not message.strip():
        raise ValidationError({"message": "a revision message is required"})
    rev_id, first = _next_revision_id(app, plugin)
    with _alembic(app, plugin_tables(app, plugin)) as cfg:
        kwargs = {}
        if first:
            kwargs["branch_label"] = plugin
            kwargs["head"] = "base"
            if plugin != "core":
                kwargs["depends_on"] = "core@head"
        else:
            kwargs["head"] = f"{plugin}@head"
        script = command.revision(
            cfg,
            message=message,
            autogenerate=autogenerate,
            rev_id=rev_id,
            version_path=str(branches[plugin].directory),
            **kwargs,
        )
    return Path(script.path)  # type: ignore[union-attr]

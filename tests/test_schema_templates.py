"""The harness's template databases (core.testing_templates): a copy starts where create_schema
leaves an app: same rows, a verifying audit chain and checkpoint file under the copied key, the
append-only triggers, and the checkpoint writer just written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from core.audit import checkpoints
from core.audit.models import AuditEntry
from core.audit.verify import read_checkpoint_file, verify
from core.db import db
from core.testing import close_app, create_schema
from core.testing_postgres import reset_schema
from core.testing_templates import SchemaTemplates
from core.users.models import Permission, Role, RolePermission, User

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def starting_state(app) -> dict:
    with app.app_context():
        roles = {r.key: sorted(g.permission.name for g in r.grants)
                 for r in db.session.scalars(select(Role))}
        state = {
            "tables": sorted(inspect(db.session.connection()).get_table_names()),
            "permissions": sorted(db.session.scalars(select(Permission.name))),
            "roles": roles,
            "grants": db.session.scalar(select(func.count()).select_from(RolePermission)),
            "users": sorted(db.session.scalars(select(User.username))),
            "audit": db.session.scalar(select(func.count()).select_from(AuditEntry)),
        }
        db.session.remove()
    return state


def test_a_copied_database_starts_where_create_schema_leaves_it(app_factory, database_url,
                                                                cqms_backend, tmp_path):
    templates = SchemaTemplates(tmp_path / "templates",
                                database_url if cqms_backend == "postgresql" else "", tag="tplcheck")
    (tmp_path / "templates").mkdir()
    states, apps = [], []
    try:
        for n in range(3):  # created, created and snapshotted, copied
            url = database_url if cqms_backend == "postgresql" else f"sqlite:///{tmp_path}/{n}.db"
            if cqms_backend == "postgresql":
                reset_schema(url)
            app = app_factory(plugins=["documents"], schema=False, DATABASE_URL=url)
            overrides = {"PLUGINS": ["documents"]}
            templates.prepare(app, overrides, None, create_schema)
            states.append(starting_state(app))
            apps.append(app)
            if n < 2:
                close_app(app)
        assert dict(templates.stats) == {"created": 1, "templates": 1, "copied": 1}
        assert states[2] == states[0] and states[0]["audit"] > 0

        copy = apps[2]
        with copy.app_context():
            assert checkpoints._writers()[checkpoints.checkpoint_file()].last_written > (
                time.monotonic() - 60)  # as after create_schema: the next head is held back
            points = read_checkpoint_file(Path(copy.instance_path) / "audit-checkpoints.jsonl")
            with db.engine.connect() as conn:
                assert points and verify(conn, points).ok  # the key came with the copy
            with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text("UPDATE core_audit_entry SET id = id"))
    finally:
        templates.close()

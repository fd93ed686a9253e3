"""Grants, plugin states and settings kept by a process between requests (issue 13, core.stamps): a
change made on another node, or in SQL below the application, is seen on the next request; what a
rolled-back transaction read is never kept."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from flask import g
from sqlalchemy import event, select, text

from core.db import db
from core.integrity import integrity_key, key_path
from core.permissions import has_permission
from core.stamps import STAMPS, ChangeStamp
from core.users.models import Role, UserRole
from core.users.service import assign_role, get_user, revoke_assignment

BOTH = pytest.mark.backends("sqlite", "postgresql")
pytestmark = pytest.mark.plugins("documents")
PERMISSION = "documents.create"


@pytest.fixture
def nodes(app, app_factory, make_user, system_actor):
    """Two apps (two nodes' processes) on one database, alice an author."""
    make_user("alice", "author")
    db.session.commit()
    integrity_key()
    other = app_factory(schema=False, INTEGRITY_KEY_FILE=str(key_path()))
    return app, other


@contextmanager
def request_on(node):
    """A new request on ``node``. The test's own app context outlives its requests (a server's
    does not), so what it kept for the previous request is dropped first."""
    with node.test_request_context():
        for name in ("cqms_grants", STAMPS, "cqms_plugin_states", "cqms_settings"):
            g.pop(name, None)
        yield
        db.session.rollback()


def may(node, permission: str = PERMISSION) -> bool:
    """A request on ``node``: does alice hold ``permission``?"""
    with request_on(node):
        return has_permission(get_user("alice"), permission)


def stamp(key: str) -> int:
    value = db.session.scalar(select(ChangeStamp.value).where(ChangeStamp.key == key))
    db.session.commit()
    return value


@BOTH
def test_a_second_request_reads_the_stamps_not_the_grants(nodes, cqms_backend):
    here, _there = nodes
    assert may(here)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert may(here)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert any("core_change_stamp" in s for s in statements)
    assert not any("core_user_role" in s or "core_role_permission" in s for s in statements)


@BOTH
def test_a_revocation_on_another_node_is_seen_on_the_next_request(nodes, cqms_backend):
    here, there = nodes
    assert may(here) and may(here)  # the second answer came from what the process kept
    with there.app_context():
        grant = db.session.scalar(select(UserRole).where(
            UserRole.user_id == get_user("alice").id, UserRole.revoked_at.is_(None)))
        revoke_assignment(grant, reason="Left the project")
        db.session.commit()
    assert not may(here)


@BOTH
def test_a_grant_changed_in_sql_below_the_application_is_seen_too(nodes, cqms_backend):
    here, _there = nodes
    assert may(here)
    before = stamp("grants")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE core_user_role SET revoked_at = granted_at"))
    assert stamp("grants") > before
    assert not may(here)


@BOTH
def test_every_table_behind_the_grants_bumps_the_stamp(app, make_user, system_actor,
                                                       cqms_backend):
    from core.studies import Site, Study

    make_user("alice", "author")
    db.session.add(Site(study=Study(code="ST-1", title="Study"), code="101", name="Berlin"))
    db.session.commit()
    for statement in ("UPDATE core_role SET label = label",
                      "UPDATE core_role_permission SET role_id = role_id",
                      "UPDATE core_permission SET description = description",
                      "UPDATE core_user_role SET role_id = role_id",
                      "UPDATE core_site SET name = name"):
        before = stamp("grants")
        with db.engine.begin() as conn:
            conn.execute(text(statement))
        assert stamp("grants") > before, statement
    before = stamp("plugins")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO core_plugin_state (key, enabled, changed_at) "
                          "VALUES ('zz', true, CURRENT_TIMESTAMP)"))
    assert stamp("plugins") > before


@BOTH
def test_what_a_rolled_back_grant_showed_is_not_kept(nodes, make_user, cqms_backend):
    here, _there = nodes
    make_user("bob")
    db.session.commit()
    qa = db.session.scalar(select(Role).where(Role.key == "qa_manager"))
    with request_on(here):
        assign_role(get_user("bob"), qa, reason="Trial", granted_by=get_user("alice"))
        db.session.flush()
        assert has_permission(get_user("bob"), "core.audit.view")  # its own uncommitted grant
    with request_on(here):
        assert not has_permission(get_user("bob"), "core.audit.view")


@BOTH
def test_a_plugin_switched_off_on_another_node_is_off_on_the_next_request(nodes, cqms_backend):
    here, there = nodes
    with request_on(here):
        assert here.extensions["cqms"].host.is_enabled("documents")
    with there.app_context():
        from core.audit.context import audit_context
        from core.users.service import system_context

        ctx = system_context("pytest")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
            assert there.extensions["cqms"].host.set_enabled("documents", False, "Not used")
        db.session.commit()
    with request_on(here):
        assert not here.extensions["cqms"].host.is_enabled("documents")


@BOTH
def test_a_setting_changed_on_another_node_is_in_force_on_the_next_request(nodes, cqms_backend):
    from core.audit.context import audit_context
    from core.settings import get_setting, set_setting
    from core.users.service import system_context

    here, there = nodes
    with request_on(here):
        assert get_setting("core.access_review_days") == 90
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with request_on(here):  # kept: the stamps are read, not the settings
            assert get_setting("core.access_review_days") == 90
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not any("core_setting" in s for s in statements)
    with there.app_context():
        ctx = system_context("pytest")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, reason="Policy"):
            set_setting("core.access_review_days", 60)
        db.session.commit()
    with request_on(here):
        assert get_setting("core.access_review_days") == 60
    with db.engine.begin() as conn:  # typed in SQL, below the application
        conn.execute(text("UPDATE core_setting SET value = '45' "
                          "WHERE key = 'core.access_review_days'"))
    with request_on(here):
        assert get_setting("core.access_review_days") == 45


@BOTH
def test_a_setting_undone_by_a_rolled_back_savepoint_is_read_again(app, system_actor,
                                                                    cqms_backend):
    """Outside requests a transaction keeps what it read; a savepoint that changed a setting
    and was rolled back must not leave its value behind."""
    from core.audit.context import audit_context
    from core.settings import get_setting, set_setting

    assert get_setting("core.access_review_days") == 90
    savepoint = db.session.begin_nested()
    with audit_context(reason="Trial"):
        set_setting("core.access_review_days", 30)
    assert get_setting("core.access_review_days") == 30
    savepoint.rollback()
    assert get_setting("core.access_review_days") == 90
    db.session.rollback()

"""CLI commands run their after-commit reactions (``record_created``,
``role_assignment_changed``, ...) as the system principal too: a reaction that writes audited
rows succeeds, and nothing is left half done."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from kernel_plugin import make_plugin
from sqlalchemy import select

from core import AuditEventKind, Reminder, create_record, system_user
from core.audit.context import current_context
from core.audit.models import AuditEntry
from core.cli import build_cli
from core.db import db
from core.testing import DEFAULT_PASSWORD
from core.users.service import get_user

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def invoke(app, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    db.session.commit()  # the test's session must not hold the SQLite write lock
    result = CliRunner().invoke(build_cli(app), list(args), obj=app, input=stdin)
    db.session.expire_all()
    return result


@pytest.fixture
def seen() -> list:
    return []


@pytest.fixture
def app_config(temp_plugin, seen):
    """``spy`` notes who acts when a reaction runs, and writes an audited event then."""
    from core.audit.service import record_event

    def react(what: str, entity_id: object) -> None:
        seen.append((what, current_context().actor_id))
        record_event(f"spy.{what}", "core_user", entity_id)
        db.session.commit()

    def sweep(now):  # type: ignore[no-untyped-def]
        create_record("acme_widget", system_user(), title="Made by a sweep")
        return 0

    spy = temp_plugin(
        "spy",
        role_assignment_changed=lambda assignment: react("role", assignment.user_id),
        record_created=lambda record: react("record", record.id),
        register_reminders=lambda: [Reminder("spy.make", "Makes a widget", sweep)],
        register_audit_event_kinds=lambda: [AuditEventKind("spy.role", "Spy saw a role change"),
                                            AuditEventKind("spy.record", "Spy saw a record")],
    )
    return {"plugins": ["acme", "spy"],
            "extra_plugins": {"acme": make_plugin(temp_plugin), "spy": spy}}


@pytest.mark.req("DI-A")
def test_every_reaction_of_a_cli_command_runs_as_the_system_principal(app, seen):
    result = invoke(app, "users", "create", "ada", "--name", "Ada Admin", "--role",
                    "system_admin", "--role", "inspector", stdin=DEFAULT_PASSWORD + "\n")
    assert result.exit_code == 0, result.output + repr(result.exception)
    for command in (("demo",), ("reminders", "run"), ("users", "deactivate", "ada", "--reason",
                                                        "Left"),
                    ("plugins", "disable", "spy", "--reason", "Test"),
                    ("plugins", "enable", "spy", "--reason", "Test")):
        result = invoke(app, *command)
        assert result.exit_code == 0, (command, result.output, repr(result.exception))
    system = get_user("system")
    assert ("record", system.id) in seen
    assert len(seen) >= 2 + 10 + 1
    assert {actor for _what, actor in seen} == {system.id}
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(("spy.role", "spy.record")))).all()
    assert len(entries) == len(seen)
    assert {e.actor_id for e in entries} == {system.id}

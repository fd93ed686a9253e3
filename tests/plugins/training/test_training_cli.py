"""``cqms users create --role trainee``: the role's curricula assign their training in the
same command (the reaction runs as the system principal)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from training_helpers import assignments_of, attested, curriculum, requirement

from core.audit.context import audit_context
from core.audit.models import AuditEntry
from core.cli import build_cli
from core.db import db
from core.testing import DEFAULT_PASSWORD
from core.users.service import get_user

pytestmark = [pytest.mark.plugins("training"), pytest.mark.backends("sqlite", "postgresql")]


@pytest.mark.req("DI-A", "E6-10")
def test_users_create_with_a_trainee_role_gets_its_training_assignments(
        app, make_user, system_actor):
    qa = make_user("quinn", "qa_manager")
    attested(qa)
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    db.session.commit()
    with audit_context(actor_id=None, actor_name=""):  # as in a fresh `cqms` process
        result = CliRunner().invoke(build_cli(app), ["users", "create", "tess", "--name", "Tess",
                                                     "--role", "trainee"],
                                    obj=app, input=DEFAULT_PASSWORD + "\n")
    db.session.expire_all()
    assert result.exit_code == 0, result.output + repr(result.exception)
    tess = get_user("tess")
    [assignment] = assignments_of(tess)
    assert assignment.state == "assigned"
    system = get_user("system")
    actors = set(db.session.scalars(select(AuditEntry.actor_id).where(
        AuditEntry.entity_type == "training_assignment",
        AuditEntry.entity_id == str(assignment.id))))
    assert actors == {system.id}

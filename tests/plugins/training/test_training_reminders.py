"""Reminder sweeps of the training plugin: due soon, overdue and expiring training notify each
trainee once per due date, however often they run; the catch-up sweep repairs missed work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from training_helpers import assignments_of, attested, curriculum, requirement

from core import db, update_record, utcnow
from core.notifications.models import Notification
from core.notifications.reminders import run_reminders
from plugins.training.models import TrainingAssignment

pytestmark = pytest.mark.plugins("training")


def notes(kind):  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == kind))


@pytest.fixture
def assigned(app, make_user, system_actor):
    qa = make_user("quinn", "qa_manager")
    attested(qa)
    people = [make_user(name, "trainee") for name in ("ann", "ben", "cat")]
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    soon, late, later = (assignments_of(p)[0] for p in people)
    today = utcnow().date()
    for assignment, due in ((soon, today + timedelta(days=3)), (late, today - timedelta(days=2)),
                            (later, today + timedelta(days=25))):
        update_record(assignment, qa, expected_version=assignment.version, reason="test",
                      due_date=due)
    db.session.commit()
    return qa, people


@pytest.mark.req("E6-13")
def test_due_soon_and_overdue_notify_once(assigned):
    assert notes("training.assigned") == 3  # on assignment, once each
    for _ in range(2):
        results = {r.key: r for r in run_reminders()}
        assert not any(r.error for r in results.values()), results
    assert notes("training.due_soon") == 1
    assert notes("training.overdue") == 1


def test_catch_up_sweep_assigns_what_was_missed_while_disabled(assigned, make_user, app):
    host = app.extensions["cqms"].host
    host.set_enabled("training", False, "test: maintenance")
    db.session.commit()
    late = make_user("dan", "trainee")  # no reaction while the plugin is disabled
    assert assignments_of(late) == []
    host.set_enabled("training", True, "test: back")
    db.session.commit()
    results = {r.key: r for r in run_reminders()}
    assert results["training.sync"].queued == 1
    assert [a.requirement.code for a in assignments_of(late)] == ["GCP-101"]
    assert {r.key: r for r in run_reminders()}["training.sync"].queued == 0


@pytest.mark.req("ISO-10")
def test_expiring_sweep_assigns_retraining(assigned):
    from training_helpers import sig, step

    from core import audit_reason, server_write

    _qa, people = assigned
    attested(people[0])
    [assignment] = assignments_of(people[0])
    step(assignment, "complete", people[0], signature=sig())
    with server_write("training_assignment"), audit_reason("test: expiring soon"):
        assignment.expires_on = utcnow().date() + timedelta(days=20)
        db.session.flush()
    db.session.commit()
    assert {r.key: r for r in run_reminders()}["training.expiring"].queued == 1
    assert {r.key: r for r in run_reminders()}["training.expiring"].queued == 0
    renewal = assignments_of(people[0])[-1]
    assert (renewal.state, renewal.trigger, renewal.due_date) == (
        "assigned", "expiry", assignment.expires_on)
    assert db.session.scalar(select(func.count()).select_from(TrainingAssignment)) == 4

"""Training without document control (plugins: core + training): curricula by role, automatic
assignments, completion by the trainee only, quiz gating, trainer-recorded courses, waivers,
expiry and withdrawal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from training_helpers import (
    assignments_of,
    attested,
    curriculum,
    quiz,
    requirement,
    role,
    sig,
    step,
)

from core import (
    ConflictError,
    PermissionDenied,
    ValidationError,
    WorkflowError,
    audit_reason,
    db,
    server_write,
    utcnow,
)
from core.users.service import assign_role, revoke_assignment
from plugins.training import services
from plugins.training.reminders import expiry_sweep

pytestmark = pytest.mark.plugins("training")


@pytest.fixture
def team(app, make_user, system_actor):
    qa = make_user("quinn", "qa_manager")
    trainer = make_user("terry", "trainer")
    trainee = make_user("tina", "trainee")
    attested(qa, trainer, trainee)
    return qa, trainer, trainee


@pytest.mark.req("ISO-10", "E6-10")
def test_approved_curriculum_assigns_its_role_holders_and_new_grants(team, make_user):
    qa, _trainer, trainee = team
    requirement("GCP-101")
    draft = curriculum(qa, "trainee", "GCP-101", approve=False)
    assert assignments_of(trainee) == []  # a draft curriculum is not in use
    step(draft, "approve", qa, signature=sig())
    [assignment] = assignments_of(trainee)
    assert assignment.state == "assigned" and assignment.trigger == "curriculum"
    assert assignment.owner_id == trainee.id
    assert assignment.due_date == utcnow().date() + timedelta(days=30)
    late = make_user("lou")  # no role yet: nothing to do
    assert assignments_of(late) == []
    assign_role(late, role("trainee"), reason="joined the team")
    db.session.commit()  # the role_assignment_changed hook runs after the commit
    assert [a.requirement.code for a in assignments_of(late)] == ["GCP-101"]
    services.sync_user(late)  # idempotent
    db.session.commit()
    assert len(assignments_of(late)) == 1


@pytest.mark.req("ISO-10")
def test_curriculum_refuses_unknown_requirements_and_changes_only_after_revise(team):
    qa, _trainer, _trainee = team
    draft = curriculum(qa, "trainee", "NOPE-1", approve=False)
    with pytest.raises(WorkflowError, match="no active requirement 'NOPE-1'"):
        step(draft, "approve", qa, signature=sig())
    db.session.rollback()
    requirement("GCP-101")
    from core import update_record

    update_record(draft, qa, expected_version=draft.version, requirement_codes="GCP-101")
    db.session.commit()
    step(draft, "approve", qa, signature=sig())
    with pytest.raises(ValidationError, match="revise it"):
        update_record(draft, qa, expected_version=draft.version, reason="more",
                      requirement_codes="GCP-101\nGCP-102")
    db.session.rollback()
    step(draft, "revise", qa, reason="add the refresher")
    assert draft.state == "draft"


@pytest.mark.req("P11-11", "ISO-10")
def test_only_the_trainee_signs_read_and_understood(team):
    qa, trainer, trainee = team
    requirement("GCP-101", expiry_months=12)
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    for other in (qa, trainer):
        with pytest.raises(WorkflowError, match="only Tina Tester"):
            step(assignment, "complete", other, signature=sig())
        db.session.rollback()
    with pytest.raises(ValidationError, match="signature"):
        step(assignment, "complete", trainee)
    db.session.rollback()
    step(assignment, "complete", trainee, signature=sig())
    assert assignment.state == "completed"
    assert assignment.completed_at is not None
    assert assignment.expires_on.year == utcnow().year + 1
    [signature] = [s for s in assignment_signatures(assignment)]
    assert (signature.meaning, signature.signer_id) == ("read_and_understood", trainee.id)
    assert signature.invalidated_at is None  # the completion stamp is not signed content


def assignment_signatures(assignment):  # type: ignore[no-untyped-def]
    from core import signatures_of

    return signatures_of(assignment)


@pytest.mark.req("ISO-10")
def test_quiz_gates_completion_and_limits_attempts(team):
    qa, _trainer, trainee = team
    req = requirement("GCP-101", pass_mark=100, max_attempts=2)
    quiz(req, ("Who signs read and understood?", ["the trainee", "the trainer"], 1),
         ("Timestamps are stored in", ["local time", "UTC"], 2))
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    with pytest.raises(WorkflowError, match="pass the quiz of GCP-101"):
        step(assignment, "complete", trainee, signature=sig())
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        services.take_quiz(assignment, qa, [1, 2])
    with pytest.raises(ValidationError, match="answers"):
        services.take_quiz(assignment, trainee, [1])
    first = services.take_quiz(assignment, trainee, [1, 1])
    db.session.commit()
    assert (first.attempt, first.score, first.passed) == (1, 50, False)
    second = services.take_quiz(assignment, trainee, [1, 2])
    db.session.commit()
    assert (second.attempt, second.score, second.passed) == (2, 100, True)
    with pytest.raises(ConflictError, match="passed already"):
        services.take_quiz(assignment, trainee, [1, 2])
    step(assignment, "complete", trainee, signature=sig())
    assert (assignment.state, assignment.score) == ("completed", 100)


def test_quiz_attempts_run_out(team):
    qa, _trainer, trainee = team
    req = requirement("GCP-101", pass_mark=100, max_attempts=1)
    quiz(req, ("2 + 2?", ["4", "5"], 1))
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    services.take_quiz(assignment, trainee, [2])
    db.session.commit()
    with pytest.raises(ConflictError, match="all 1 attempts are used"):
        services.take_quiz(assignment, trainee, [1])


@pytest.mark.req("ISO-10")
def test_instructor_led_completion_is_recorded_by_a_trainer_with_attendance(team):
    qa, trainer, trainee = team
    requirement("GCP-CLASS", kind="instructor_led", title="GCP classroom")
    curriculum(qa, "trainee", "GCP-CLASS")
    [assignment] = assignments_of(trainee)
    with pytest.raises(WorkflowError, match="recorded by a trainer"):
        step(assignment, "complete", trainee, signature=sig())
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        step(assignment, "record_completion", trainee, signature=sig(), reason="I was there")
    db.session.rollback()
    with pytest.raises(ValidationError, match="reason"):
        step(assignment, "record_completion", trainer, signature=sig())
    db.session.rollback()
    step(assignment, "record_completion", trainer, signature=sig(),
         reason="Attended the session of 2026-12-01, room 4 (sign-in sheet 12)")
    assert assignment.state == "completed"
    assert "sign-in sheet 12" in assignment.evidence


def test_waiver_needs_a_manager_signature_and_a_reason(team):
    qa, _trainer, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    with pytest.raises(ValidationError, match="reason"):
        step(assignment, "waive", qa, signature=sig())
    db.session.rollback()
    step(assignment, "waive", qa, signature=sig(), reason="Equivalent certificate on file")
    assert assignment.state == "waived" and "Equivalent certificate" in assignment.evidence


def test_automatic_transitions_are_the_systems_only(team):
    qa, _trainer, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    with pytest.raises(PermissionDenied, match="done by the system only"):
        step(assignment, "supersede", qa, reason="trying")
    db.session.rollback()
    from core import available_transitions

    assert "supersede" not in {t.name for t in available_transitions(assignment, qa)}


def test_server_owned_fields_cannot_be_written(team):
    qa, _trainer, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    from core import update_record

    with pytest.raises(ValidationError, match="Set by the server"):
        update_record(assignment, qa, expected_version=assignment.version, reason="x",
                      completed_at=utcnow())
    db.session.rollback()
    with pytest.raises(ValidationError, match="Fixed"):
        update_record(assignment, qa, expected_version=assignment.version, reason="x",
                      trainee_id=qa.id)
    db.session.rollback()
    with pytest.raises(ValidationError, match="reason"):
        update_record(assignment, qa, expected_version=assignment.version,
                      due_date=utcnow().date())
    db.session.rollback()
    update_record(assignment, qa, expected_version=assignment.version, reason="Holiday",
                  due_date=utcnow().date() + timedelta(days=60))
    db.session.commit()


def test_a_second_open_assignment_for_the_same_requirement_is_refused(team):
    qa, _trainer, trainee = team
    req = requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    with pytest.raises(ConflictError, match="already has"):
        services.assign(trainee, req, by=qa)


@pytest.mark.req("ISO-10")
def test_expiring_completion_gets_retraining_once(team):
    qa, _trainer, trainee = team
    requirement("GCP-101", expiry_months=12)
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    step(assignment, "complete", trainee, signature=sig())
    assert expiry_sweep(utcnow()) == 0  # expires in a year
    with server_write("training_assignment"), audit_reason("test: the completion is old"):
        assignment.expires_on = utcnow().date() + timedelta(days=10)
        db.session.flush()
    db.session.commit()
    assert expiry_sweep(utcnow()) == 1
    db.session.commit()
    assert expiry_sweep(utcnow()) == 0
    first, renewal = assignments_of(trainee)
    assert (first.state, renewal.state, renewal.trigger) == ("completed", "assigned", "expiry")
    step(renewal, "complete", trainee, signature=sig())
    db.session.refresh(first)
    assert first.state == "superseded"  # replaced, never deleted


@pytest.mark.req("E6-10")
def test_scoped_curricula_follow_the_role_scope(team, make_user):
    from core import Site, Study

    qa, _trainer, _trainee = team
    with audit_reason("test set-up"):
        study = Study(code="S-1", title="Study one")
        other = Study(code="S-2", title="Study two")
        db.session.add_all([study, other])
        db.session.flush()
        de = Site(study_id=study.id, code="101", name="Berlin", country="DE")
        fr = Site(study_id=study.id, code="102", name="Paris", country="FR")
        db.session.add_all([de, fr])
        db.session.flush()
    db.session.commit()
    requirement("S1-PROT", title="Protocol S-1 training")
    requirement("DE-LAW", title="German law")
    curriculum(qa, "site_monitor", "S1-PROT", study_id=study.id)
    curriculum(qa, "site_monitor", "DE-LAW", country="DE")
    berlin = make_user("bert", "site_monitor", site=de)
    paris = make_user("pia", "site_monitor", site=fr)
    elsewhere = make_user("otto", "site_monitor", study=other)
    assert sorted(a.requirement.code for a in assignments_of(berlin)) == ["DE-LAW", "S1-PROT"]
    assert [a.requirement.code for a in assignments_of(paris)] == ["S1-PROT"]
    assert assignments_of(elsewhere) == []
    [record] = assignments_of(paris)
    assert (record.study_id, record.site_id) == (study.id, fr.id)  # the trainee's scope
    step(record, "complete", paris, signature=attested(paris) and sig())


def test_revoked_role_withdraws_open_curriculum_training(team):
    qa, _trainer, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    grant = next(g for g in trainee.active_assignments() if g.role.key == "trainee")
    revoke_assignment(grant, reason="left the study team")
    db.session.commit()
    db.session.refresh(assignment)
    assert assignment.state == "cancelled"


@pytest.mark.req("ISO-10")
def test_matrix_shows_each_persons_status_per_requirement(team, make_user):
    from plugins.training.matrix import Filters, build_matrix

    qa, _trainer, trainee = team
    requirement("GCP-101")
    requirement("GCP-CLASS", kind="instructor_led")
    requirement("DI-1", title="Data integrity", expiry_months=12)
    curriculum(qa, "trainee", "GCP-101", "GCP-CLASS", "DI-1")
    other = make_user("olga", "trainee")
    mine = {a.requirement.code: a for a in assignments_of(trainee)}
    step(mine["GCP-101"], "complete", trainee, signature=sig())
    step(mine["DI-1"], "complete", trainee, signature=sig())
    with server_write("training_assignment"), audit_reason("test: an old completion"):
        mine["DI-1"].expires_on = utcnow().date() - timedelta(days=1)
        db.session.flush()
    from core import update_record

    theirs = {a.requirement.code: a for a in assignments_of(other)}
    update_record(theirs["GCP-101"], qa, expected_version=theirs["GCP-101"].version,
                  reason="test: overdue", due_date=utcnow().date() - timedelta(days=2))
    db.session.commit()
    matrix = build_matrix(qa, Filters(role="trainee"))
    codes = [r.code for r in matrix.requirements]
    assert codes == ["DI-1", "GCP-101", "GCP-CLASS"]
    table = {row.user.username: {r.code: row.cells[r.id].status for r in matrix.requirements
                                 if r.id in row.cells} for row in matrix.rows}
    assert table == {
        "olga": {"DI-1": "due", "GCP-101": "overdue", "GCP-CLASS": "due"},
        "tina": {"DI-1": "expired", "GCP-101": "current", "GCP-CLASS": "due"},
    }
    page = build_matrix(qa, Filters(role="trainee"), limit=1)
    assert [r.user.username for r in page.rows] == ["olga"] and page.next_after == "olga"
    rest = build_matrix(qa, Filters(role="trainee"), after=page.next_after, limit=1)
    assert [r.user.username for r in rest.rows] == ["tina"] and rest.next_after is None
    assert build_matrix(trainee).rows == []  # the matrix needs training.view_matrix


@pytest.mark.req("P11-05")
def test_old_value_of_an_unloaded_subclass_field_is_the_records_own(team, make_user):
    """An attribute set on an expired joined-inheritance record: the audit entry's old value is
    read from that record's row (a cartesian SELECT read another assignment's)."""
    from sqlalchemy import select

    from core import update_record
    from core.audit.models import AuditEntry

    qa, _trainer, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    other = make_user("olga", "trainee")
    [first] = assignments_of(trainee)
    [second] = assignments_of(other)
    update_record(first, qa, expected_version=first.version, reason="a",
                  due_date=utcnow().date() + timedelta(days=5))
    db.session.commit()  # expires both
    old_due = db.session.get(type(second), second.id).due_date
    db.session.expire_all()
    second = db.session.get(type(second), second.id)
    db.session.expire(second, ["due_date"])
    update_record(second, qa, expected_version=second.version, reason="b",
                  due_date=utcnow().date() + timedelta(days=90))
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_id == str(second.id), AuditEntry.field == "due_date")
        .order_by(AuditEntry.id.desc())).first()
    assert entry.old_value == old_due.isoformat()

"""Training with document control (plugins: documents + training): requirements that follow a
document's effective version, retraining on a new version, carry-over when a version needs no
new training, obsolete documents refused (ISO-06), qualification at a past moment and the
training-gated signature (P11-11)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from training_helpers import PDF, assignments_of, attested, curriculum, effective, requirement, sig, step

from core import (
    ConflictError,
    WorkflowError,
    add_attachment,
    audit_reason,
    db,
    link_records,
    utcnow,
)
from core.settings import set_setting
from plugins.documents.services import create_document, create_version, revise, seed_types
from plugins.training import services
from plugins.training.qualification import qualification

pytestmark = pytest.mark.plugins("documents", "training")


@pytest.fixture
def team(app, make_user, system_actor):
    seed_types()
    db.session.commit()
    people = {name: make_user(name, *roles) for name, roles in (
        ("alice", ("author",)), ("rita", ("reviewer",)), ("bob", ("approver",)),
        ("quinn", ("qa_manager",)), ("tina", ("trainee",)))}
    attested(*(u for k, u in people.items() if k != "alice"))
    return people


def sop(team, title="Handling of investigational product"):  # type: ignore[no-untyped-def]
    document = create_document(team["alice"], title=title, type_code="SOP")
    db.session.commit()
    version = create_version(document, team["alice"])
    db.session.commit()
    return document, effective(version, team)


def next_version(document, team, *, training_required=True):  # type: ignore[no-untyped-def]
    version = revise(document, team["alice"], major=False, change_summary="Clarified",
                     change_reason="Inspection finding")
    db.session.commit()
    if not training_required:
        from core import update_record

        update_record(version, team["alice"], expected_version=version.version,
                      training_required=False)
        db.session.commit()
    return effective(version, team)


@pytest.fixture
def trained_sop(team):
    document, v1 = sop(team)
    requirement(document.number, kind="document", title=document.title, document_id=document.id)
    curriculum(team["quinn"], "trainee", document.number)
    return document, v1


@pytest.mark.req("ISO-11", "ISO-10")
@pytest.mark.backends("sqlite", "postgresql")
def test_assignment_names_the_effective_version_and_is_bound_to_it(team, trained_sop):
    document, v1 = trained_sop
    [assignment] = assignments_of(team["tina"])
    assert (assignment.document_version_id, assignment.version_label) == (v1.id, "1.0")
    assert assignment.title.startswith(f"{document.number} v1.0")
    step(assignment, "complete", team["tina"], signature=sig())
    assert assignment.state == "completed"


@pytest.mark.req("ISO-11")
def test_a_new_effective_version_assigns_retraining(team, trained_sop):
    document, v1 = trained_sop
    [first] = assignments_of(team["tina"])
    step(first, "complete", team["tina"], signature=sig())
    v2 = next_version(document, team)
    old, new = assignments_of(team["tina"])
    assert (old.id, old.state) == (first.id, "completed")  # kept until the new one is done
    assert (new.state, new.document_version_id, new.trigger) == ("assigned", v2.id,
                                                                  "document_version")
    assert new.due_date == utcnow().date() + timedelta(days=30)
    assert matrix_status(team, document) == "due"  # trained on v1.0 only: not current
    step(new, "complete", team["tina"], signature=sig())
    db.session.refresh(old)
    assert old.state == "superseded"
    assert matrix_status(team, document) == "current"


def matrix_status(team, document):  # type: ignore[no-untyped-def]
    from plugins.training.matrix import Filters, build_matrix

    matrix = build_matrix(team["quinn"], Filters(username="tina"))
    [row] = matrix.rows
    [column] = [r for r in matrix.requirements if r.document_id == document.id]
    return row.cells[column.id].status


def test_an_open_assignment_of_a_replaced_version_is_superseded(team, trained_sop):
    document, _v1 = trained_sop
    [first] = assignments_of(team["tina"])
    v2 = next_version(document, team)
    db.session.refresh(first)
    assert first.state == "superseded"
    [_old, new] = assignments_of(team["tina"])
    assert new.document_version_id == v2.id and new.state == "assigned"
    with pytest.raises(WorkflowError):
        step(first, "complete", team["tina"], signature=sig())


@pytest.mark.req("ISO-11")
def test_a_version_without_training_carries_the_completion_over(team, trained_sop):
    document, _v1 = trained_sop
    [first] = assignments_of(team["tina"])
    step(first, "complete", team["tina"], signature=sig())
    v2 = next_version(document, team, training_required=False)
    old, carried = assignments_of(team["tina"])
    db.session.refresh(old)
    assert old.state == "superseded"
    assert (carried.state, carried.document_version_id) == ("completed", v2.id)
    assert carried.carried_over_from_id == old.id
    assert "carries over" in carried.evidence and old.number in carried.evidence


@pytest.mark.req("ISO-06")
def test_obsolete_documents_cannot_be_assigned(team, trained_sop):
    document, v1 = trained_sop
    [open_one] = assignments_of(team["tina"])
    step(v1, "obsolete", team["bob"], signature=sig(), reason="Process discontinued")
    with pytest.raises(ConflictError, match="obsolete"):
        requirement("OBS-1", kind="document", document_id=document.id)
    db.session.rollback()
    with pytest.raises(ConflictError, match="obsolete"):
        services.assign(team["tina"], open_one.requirement, by=team["quinn"])
    db.session.rollback()
    draft = curriculum(team["quinn"], "author", document.number, approve=False)
    with pytest.raises(WorkflowError, match="obsolete"):
        step(draft, "approve", team["quinn"], signature=sig())


@pytest.mark.req("P11-11", "ISO-11")
@pytest.mark.backends("sqlite", "postgresql")
def test_qualification_answers_for_the_version_in_effect_at_a_moment(team, trained_sop):
    document, v1 = trained_sop
    [first] = assignments_of(team["tina"])
    before = utcnow()
    step(first, "complete", team["tina"], signature=sig())
    trained = utcnow()
    answer = qualification(team["tina"], document, before)
    assert answer["qualified"] is False and answer["version"]["label"] == "1.0"
    answer = qualification(team["tina"], document, trained)
    assert answer["qualified"] is True
    [evidence] = answer["evidence"]
    assert evidence["assignment"] == first.number
    assert evidence["signatures"][0]["meaning"] == "read_and_understood"
    v2 = next_version(document, team)
    after_v2 = utcnow()
    assert qualification(team["tina"], document, after_v2)["qualified"] is False
    assert qualification(team["tina"], document, trained)["qualified"] is True  # the past holds
    assert qualification(team["tina"], document, after_v2)["version"]["label"] == \
        v2.version_label
    earlier = v1.effective_at - timedelta(seconds=1)
    assert qualification(team["tina"], document, earlier)["version"] is None


@pytest.mark.req("P11-11")
def test_gated_signature_names_the_missing_training(team, trained_sop, make_user):
    document, _v1 = trained_sop
    governed = create_document(team["alice"], title="Temperature log form", type_code="FORM")
    db.session.commit()
    link_records(governed, document, "governed_by", team["alice"])
    db.session.commit()
    version = create_version(governed, team["alice"])
    db.session.commit()
    link_records(version, document, "governed_by", team["alice"])
    db.session.commit()
    add_attachment(version, team["alice"], "form.pdf", io.BytesIO(PDF))
    db.session.commit()
    step(version, "submit", team["alice"])
    with audit_reason("test: switch the gate on"):
        set_setting("training.gate_signatures", True)
    db.session.commit()
    with pytest.raises(WorkflowError, match=f"rita is not trained on {document.number}"):
        step(version, "review", team["rita"], signature=sig())
    db.session.rollback()
    with audit_reason("test: a grace period"):
        set_setting("training.gate_grace_days", 5)
    db.session.commit()
    step(version, "review", team["rita"], signature=sig())  # within the grace period


def test_gate_is_off_by_default(team, trained_sop):
    document, _v1 = trained_sop
    form = create_document(team["alice"], title="Shipping form", type_code="FORM")
    db.session.commit()
    version = create_version(form, team["alice"])
    db.session.commit()
    link_records(version, document, "governed_by", team["alice"])
    add_attachment(version, team["alice"], "form.pdf", io.BytesIO(PDF))
    db.session.commit()
    step(version, "submit", team["alice"])
    step(version, "review", team["rita"], signature=sig())  # untrained, but the gate is off

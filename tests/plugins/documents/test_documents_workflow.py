"""The documents plugin through its services: types, numbering, the version life cycle and every
refusal of it."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from documents_helpers import attach, draft, people, seeded, sig, step, to_effective
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core import (
    PermissionDenied,
    ValidationError,
    WorkflowError,
    add_attachment,
    create_record,
    db,
    links_of,
    signatures_of,
    update_record,
    utcnow,
)
from core.testing import DEFAULT_PASSWORD
from plugins.documents.models import DocumentType, DocumentVersion
from plugins.documents.services import create_version, revise, seed_types
from plugins.documents.workflows import add_months

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def test_standard_types_are_seeded_once(app, system_actor):
    assert seed_types() == 6
    db.session.commit()
    assert seed_types() == 0
    codes = set(db.session.scalars(select(DocumentType.code)))
    assert codes == {"SOP", "WI", "FORM", "POLICY", "PLAN", "EXTERNAL"}


@pytest.mark.req("ISO-05")
@pytest.mark.backends("sqlite", "postgresql")
def test_numbers_follow_the_type_prefix_gaplessly(team, cqms_backend):
    author, *_ = team
    first, v1 = draft(author, "SOP")
    second, _ = draft(author, "SOP", title="Second")
    form, _ = draft(author, "FORM", title="Form")
    assert (first.number, second.number, form.number) == ("SOP-0001", "SOP-0002", "FORM-0001")
    assert (v1.number, v1.version_label, v1.state) == ("SOP-0001-v1.0", "1.0", "draft")
    assert v1.training_required is True  # from the SOP type
    from plugins.documents.services import create_document

    create_document(author, title="Doomed", type_code="SOP")
    db.session.rollback()
    third, _ = draft(author, "SOP", title="Third")
    assert third.number == "SOP-0003"  # a rolled back creation gives its number back
    with pytest.raises(ValidationError, match="document_type"):
        create_document(author, title="x", type_code="NOPE")


@pytest.mark.req("ISO-01", "P11-08", "P11-15")
def test_a_version_becomes_effective_after_review_and_approval(team, app):
    author, reviewer, approver, qa = team
    document, version = draft(author)
    to_effective(version, author, reviewer, approver, qa)
    assert (version.state, document.state) == ("effective", "effective")
    assert version.effective_document_id == document.id and version.effective_at is not None
    assert document.next_review_date == add_months(utcnow().date(), 24)
    meanings = [(s.meaning, s.username, s.record_id) for s in signatures_of(version)]
    assert meanings == [("reviewed", "rita", version.id), ("approved", "bob", version.id)]
    assert all(s.invalidated_at is None for s in signatures_of(version))


@pytest.mark.req("ISO-01", "ISO-03", "P11-08")
@pytest.mark.backends("sqlite", "postgresql")
def test_revisions_supersede_the_effective_version(team, cqms_backend):
    author, reviewer, approver, qa = team
    document, first = draft(author)
    to_effective(first, author, reviewer, approver, qa)
    minor = revise(document, author, major=False, change_summary="Step 4 clarified",
                   change_reason="Deviation DEV-7")
    db.session.commit()
    assert (minor.version_label, minor.number, minor.supersedes_id) == ("1.1", "SOP-0001-v1.1",
                                                                        first.id)
    assert minor.title == first.title and minor.state == "draft"
    to_effective(minor, author, reviewer, approver, qa)
    db.session.expire_all()
    assert (first.state, minor.state, document.state) == ("superseded", "effective", "effective")
    assert first.effective_document_id is None and minor.effective_document_id == document.id
    [link] = [lk for lk in links_of(minor) if lk.kind == "supersedes"]
    assert (link.source_id, link.target_id) == (minor.id, first.id)
    major = revise(document, author, major=True, change_summary="Rewritten",
                   change_reason="New freezer model")
    db.session.commit()
    assert (major.version_label, major.supersedes_id) == ("2.0", minor.id)
    effective = db.session.scalars(select(DocumentVersion).where(
        DocumentVersion.state == "effective")).all()
    assert effective == [minor]


@pytest.mark.req("P11-08")
def test_submit_needs_a_file(team):
    author, *_ = team
    _document, version = draft(author)
    with pytest.raises(WorkflowError, match="has no file"):
        step(version, "submit", author)
    db.session.rollback()
    assert version.state == "draft"
    attach(version, author)
    assert step(version, "submit", author).state == "in_review"


@pytest.mark.req("ISO-03")
def test_a_second_version_needs_a_change_summary_and_reason(team):
    author, reviewer, approver, qa = team
    document, first = draft(author)
    to_effective(first, author, reviewer, approver, qa)
    second = create_version(document, author)  # not through revise: nothing explained
    db.session.commit()
    assert second.version_label == "1.1" and second.supersedes_id == first.id
    attach(second, author)
    with pytest.raises(WorkflowError) as info:
        step(second, "submit", author)
    db.session.rollback()
    assert info.value.reasons == ["a new version needs a change summary",
                                  "a new version needs a change reason"]
    update_record(second, author, expected_version=second.version, change_summary="New step",
                  change_reason="Audit finding")
    db.session.commit()
    assert step(second, "submit", author).state == "in_review"


@pytest.mark.req("P11-08")
def test_transitions_from_the_wrong_state_are_refused(team):
    author, reviewer, approver, qa = team
    document, version = draft(author)
    for name, user in (("approve", approver), ("make_effective", qa), ("obsolete", approver),
                       ("review", reviewer), ("supersede", qa)):
        with pytest.raises(WorkflowError, match="in state 'draft'"):
            step(version, name, user, signature=sig(), reason="r")
        db.session.rollback()
    with pytest.raises(WorkflowError, match="has no effective version"):
        step(document, "activate", qa)
    db.session.rollback()
    to_effective(version, author, reviewer, approver, qa)
    with pytest.raises(WorkflowError, match="only when a newer one becomes effective"):
        step(version, "supersede", qa)
    db.session.rollback()
    with pytest.raises(WorkflowError, match="still has an effective version"):
        step(document, "retire", approver)
    db.session.rollback()
    assert (version.state, document.state) == ("effective", "effective")


@pytest.mark.req("P11-09", "P11-08")
def test_review_needs_a_reviewer_a_signature_and_no_second_review(team, make_user):
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    with pytest.raises(PermissionDenied, match="documents.review"):
        step(version, "review", make_user("tim", "trainee"), signature=sig())
    db.session.rollback()
    author_reviewer = make_user("ann", "author", "reviewer")
    version_by_ann = draft(author_reviewer, title="Ann's")[1]
    attach(version_by_ann, author_reviewer)
    step(version_by_ann, "submit", author_reviewer)
    with pytest.raises(WorkflowError, match="separation of duties"):
        step(version_by_ann, "review", author_reviewer, signature=sig())
    db.session.rollback()
    with pytest.raises(ValidationError, match="signature"):
        step(version, "review", reviewer)
    db.session.rollback()
    step(version, "review", reviewer, signature=sig())
    with pytest.raises(WorkflowError, match="already reviewed"):
        step(version, "review", reviewer, signature=sig())
    db.session.rollback()
    assert [s.meaning for s in signatures_of(version)] == ["reviewed"]


@pytest.mark.req("ISO-01", "P11-09", "P11-08")
def test_approval_needs_reviews_a_signature_and_someone_else_than_the_author(team, make_user):
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    attach(version, author)
    update_record(version, author, expected_version=version.version, reviews_required=2)
    db.session.commit()
    step(version, "submit", author)
    with pytest.raises(WorkflowError, match="0 of 2 required reviews"):
        step(version, "approve", approver, signature=sig())
    db.session.rollback()
    step(version, "review", reviewer, signature=sig())
    with pytest.raises(WorkflowError, match="1 of 2 required reviews"):
        step(version, "approve", approver, signature=sig())
    db.session.rollback()
    step(version, "review", qa, signature=sig())
    with pytest.raises(WorkflowError, match="a reviewer of this version may not also approve"):
        step(version, "approve", qa, signature=sig())
    db.session.rollback()
    with pytest.raises(ValidationError, match="signature"):
        step(version, "approve", approver)
    db.session.rollback()
    author_approver = make_user("abe", "author", "approver", "reviewer")
    from core import attest

    attest(author_approver, DEFAULT_PASSWORD)
    db.session.commit()
    own = draft(author_approver, title="Own")[1]
    attach(own, author_approver)
    step(own, "submit", author_approver)
    step(own, "review", reviewer, signature=sig())
    with pytest.raises(WorkflowError, match=f"separation of duties: the person who created "
                                            f"{re.escape(own.number)} may not approve it"):
        step(own, "approve", author_approver, signature=sig())
    db.session.rollback()
    assert step(version, "approve", approver, signature=sig()).state == "approved"


@pytest.mark.req("ISO-07")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_type_names_the_approving_function(team, make_user, system_actor):
    author, reviewer, approver, qa = team
    policy = db.session.scalar(select(DocumentType).where(DocumentType.code == "POLICY"))
    policy.approver_role = "qa_manager"
    db.session.commit()
    _document, version = draft(author, "POLICY", title="Quality policy")
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    with pytest.raises(WorkflowError, match="approved by the role 'qa_manager'"):
        step(version, "approve", approver, signature=sig())
    db.session.rollback()
    assert step(version, "approve", qa, signature=sig()).state == "approved"


@pytest.mark.req("P11-08")
def test_reject_needs_a_reason_and_returns_to_draft(team):
    author, reviewer, *_ = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    with pytest.raises(ValidationError, match="reason"):
        step(version, "reject", reviewer)
    db.session.rollback()
    assert step(version, "reject", reviewer, reason="Step 3 is unclear").state == "draft"


@pytest.mark.req("P11-17")
def test_a_change_in_review_invalidates_the_reviews(team):
    author, reviewer, approver, _qa = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    update_record(version, author, expected_version=version.version, reason="Typo",
                  change_summary="Typo fixed")
    db.session.commit()
    [review] = signatures_of(version)
    assert review.invalidated_at is not None
    with pytest.raises(WorkflowError, match="0 of 1 required reviews"):
        step(version, "approve", approver, signature=sig())
    db.session.rollback()
    step(version, "review", reviewer, signature=sig())  # re-review of the changed content
    assert step(version, "approve", approver, signature=sig()).state == "approved"


@pytest.mark.req("ISO-01", "P11-17")
def test_an_approved_or_effective_version_never_changes(team):
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    step(version, "approve", approver, signature=sig())
    for state in ("approved", "effective"):
        assert version.state == state
        with pytest.raises(ValidationError, match="never changes"):
            update_record(version, author, expected_version=version.version, reason="Late edit",
                          change_summary="sneaky")
        db.session.rollback()
        with pytest.raises(ValidationError, match="never changes"):
            add_attachment(version, author, "late.pdf",
                           io.BytesIO(b"%PDF-1.7\n%%EOF\n"), reason="Late file")
        db.session.rollback()
        with pytest.raises(ValidationError, match="Set by the server"):
            update_record(version, author, expected_version=version.version, reason="x",
                          effective_at=utcnow())
        db.session.rollback()
        if state == "approved":
            step(version, "make_effective", qa)
    assert all(s.invalidated_at is None for s in signatures_of(version))


@pytest.mark.req("ISO-01")
@pytest.mark.backends("sqlite", "postgresql")
def test_only_one_effective_version_per_document(team, cqms_backend):
    author, reviewer, approver, qa = team
    document, first = draft(author)
    to_effective(first, author, reviewer, approver, qa)
    second = revise(document, author, major=False, change_summary="s", change_reason="r")
    db.session.commit()
    with pytest.raises(ValidationError, match="Set by the server"):
        update_record(second, author, expected_version=second.version, reason="x",
                      effective_document_id=document.id)
    db.session.rollback()
    with pytest.raises(ValidationError, match="already has a version in progress"):
        create_version(document, author)
    db.session.rollback()
    # Below the application the database refuses a second effective version too.
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE documents_version SET effective_document_id = :d "
                                "WHERE id = :v"), {"d": document.id, "v": second.id})
        db.session.flush()
    db.session.rollback()


@pytest.mark.req("P11-08")
def test_make_effective_waits_for_the_planned_date(team):
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    update_record(version, author, expected_version=version.version,
                  planned_effective_date=utcnow().date() + timedelta(days=3))
    db.session.commit()
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    step(version, "approve", approver, signature=sig())
    with pytest.raises(WorkflowError, match="planned to become effective on"):
        step(version, "make_effective", qa)
    db.session.rollback()
    with pytest.raises(PermissionDenied, match="documents.manage"):
        step(version, "make_effective", approver)
    db.session.rollback()
    assert version.state == "approved"


@pytest.mark.req("P11-08")
def test_obsolete_needs_a_reason_a_signature_and_no_revision_in_progress(team):
    author, reviewer, approver, qa = team
    document, version = draft(author)
    to_effective(version, author, reviewer, approver, qa)
    with pytest.raises(ValidationError, match="reason"):
        step(version, "obsolete", approver, signature=sig())
    db.session.rollback()
    with pytest.raises(ValidationError, match="signature"):
        step(version, "obsolete", approver, reason="Process discontinued")
    db.session.rollback()
    revision = revise(document, author, major=False, change_summary="s", change_reason="r")
    db.session.commit()
    with pytest.raises(WorkflowError, match="is in progress"):
        step(version, "obsolete", approver, reason="Gone", signature=sig())
    db.session.rollback()
    # A document with a revision in progress stays in use.
    assert revision.state == "draft"


@pytest.mark.req("P11-08")
def test_an_obsolete_document_gets_no_new_version(team):
    author, reviewer, approver, qa = team
    document, version = draft(author)
    to_effective(version, author, reviewer, approver, qa)
    step(version, "obsolete", approver, reason="Process discontinued", signature=sig())
    db.session.expire_all()
    assert (version.state, document.state) == ("obsolete", "obsolete")
    assert version.obsoleted_at is not None and version.effective_document_id is None
    assert document.next_review_date is None
    with pytest.raises(ValidationError, match="is obsolete"):
        create_version(document, author)
    db.session.rollback()
    with pytest.raises(WorkflowError, match="not effective"):
        revise(document, author, major=True, change_summary="s", change_reason="r")


def test_server_owned_and_fixed_fields_are_refused(team):
    author, *_ = team
    document, version = draft(author)
    with pytest.raises(ValidationError, match="Fixed when the document version was created"):
        update_record(version, author, expected_version=version.version, version_label="7.0")
    db.session.rollback()
    with pytest.raises(ValidationError, match="Fixed when the document was created"):
        update_record(document, author, expected_version=document.version,
                      document_type_id=None)
    db.session.rollback()
    with pytest.raises(ValidationError, match="Set by the server"):
        create_record("documents_version", author, title="x", document_id=document.id,
                      effective_at=utcnow())
    db.session.rollback()
    with pytest.raises(ValidationError, match="version_label"):
        create_version(document, author, version_label="v2")
    db.session.rollback()

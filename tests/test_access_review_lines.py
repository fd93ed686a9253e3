"""The user-access review line by line (E6-24): every user x role x scope with its last sign-in,
inactive accounts flagged; each line confirmed or revoked (revoking ends the grant through the
core's audited user service) before the review can be completed and signed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import (
    ConflictError,
    PermissionDenied,
    SignatureRequest,
    ValidationError,
    WorkflowError,
    attest,
    signatures_of,
    transition,
    update_record,
)
from core.audit.context import acting_as
from core.audit.models import AuditEntry
from core.cli.context import system_principal
from core.db import db, utcnow
from core.reviews.access_lines import access_lines, decide_line
from core.reviews.models import PeriodicReview
from core.reviews.workflow import open_due_reviews
from core.studies import Study
from core.testing import DEFAULT_PASSWORD, csrf_token, login
from core.users.models import UserRole

pytestmark = [pytest.mark.plugins(), pytest.mark.req("E6-24"),
              pytest.mark.backends("sqlite", "postgresql")]


def _access_review(now=None):
    with system_principal():
        open_due_reviews(now or utcnow())
        db.session.commit()
    return db.session.scalars(select(PeriodicReview).where(PeriodicReview.kind == "access")
                              .order_by(PeriodicReview.id.desc())).first()


def _line(review, username, role_label):
    return next(line for line in access_lines(review)
                if line.person.startswith(f"{username} (") and line.role_label == role_label)


@pytest.fixture
def people(make_user):
    study = Study(code="ST-1", title="Study one")
    with system_principal():
        db.session.add(study)
        db.session.commit()
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    olga = make_user("olga", "author", full_name="Olga Old")
    fred = make_user("fred", "author", full_name="Fred Fresh")
    make_user("rita", "reviewer", study=study, full_name="Rita Study")
    olga.last_login_at = utcnow() - timedelta(days=200)  # sign-in bookkeeping, not audited
    fred.last_login_at = utcnow() - timedelta(days=2)
    attest(quinn, DEFAULT_PASSWORD)
    db.session.commit()
    return {"quinn": quinn, "olga": olga, "fred": fred, "study": study}


def test_every_user_role_scope_is_a_line_with_last_sign_in_and_inactive_ones_are_flagged(
        app, people):
    review = _access_review()
    lines = {(line.person, line.role_label, line.scope): line for line in access_lines(review)}
    assert set(lines) == {("quinn (Quinn Quality)", "QA manager", "all studies"),
                          ("olga (Olga Old)", "Author", "all studies"),
                          ("fred (Fred Fresh)", "Author", "all studies"),
                          ("rita (Rita Study)", "Reviewer", "study ST-1")}
    olga = lines[("olga (Olga Old)", "Author", "all studies")]
    fred = lines[("fred (Fred Fresh)", "Author", "all studies")]
    assert olga.inactive and olga.last_sign_in_words == (
        people["olga"].last_login_at.strftime("%Y-%m-%d"))
    assert not fred.inactive
    assert all(line.decision == "" for line in lines.values())
    assert review.flagged >= 1


def test_completing_is_refused_until_each_line_is_confirmed_or_revoked_then_it_is_signed(
        app, people):
    quinn = people["quinn"]
    review = _access_review()
    update_record(review, quinn, expected_version=review.version, reason="Review done",
                  outcome="Olga left the team: her author role is revoked.")
    db.session.commit()
    with pytest.raises(WorkflowError, match="confirm or revoke every access line first"):
        transition(review, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.rollback()

    olga_line = _line(review, "olga", "Author")
    with pytest.raises(ValidationError, match="Say why"):
        decide_line(olga_line, quinn, "revoked", "")
    with pytest.raises(ValidationError, match="Confirm or revoke"):
        decide_line(olga_line, quinn, "maybe", "")
    db.session.rollback()
    decide_line(olga_line, quinn, "revoked", "Left the team in November")
    db.session.commit()
    grant = db.session.get(UserRole, olga_line.assignment_id)
    assert grant.revoked_at is not None and grant.revoked_by_id == quinn.id
    [revocation] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_user_role", AuditEntry.entity_id == str(grant.id),
        AuditEntry.field == "revoked_at")).all()
    assert review.number in revocation.reason and "Left the team" in revocation.reason
    assert revocation.actor_id == quinn.id
    assert (olga_line.decision, olga_line.decided_by_id) == ("revoked", quinn.id)
    with pytest.raises(ConflictError, match="already revoked"):
        decide_line(olga_line, quinn, "confirmed")

    for line in access_lines(review)[:-1]:
        if not line.decision:
            decide_line(line, quinn, "confirmed")
    db.session.commit()
    with pytest.raises(WorkflowError, match=r"\(1 not yet decided\)"):
        transition(review, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.rollback()
    last = access_lines(review)[-1]
    if not last.decision:
        decide_line(last, quinn, "confirmed", "Still needed")
    db.session.commit()
    transition(review, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    [signature] = signatures_of(review, valid_only=True)
    assert (review.state, signature.meaning, signature.signer_id) == (
        "completed", "reviewed", quinn.id)
    decisions = review.decisions.splitlines()  # signed content: part of the record's version
    assert len(decisions) == 4
    assert any(d.startswith("Revoked: olga (Olga Old), Author @ all studies: Left the team in "
                            "November (by Quinn Quality (quinn), ") for d in decisions)
    assert sum(d.startswith("Confirmed: ") for d in decisions) == 3
    with pytest.raises(ConflictError, match="is completed"):
        decide_line(_line(review, "fred", "Author"), quinn, "revoked", "too late")
    db.session.rollback()
    with acting_as(quinn), pytest.raises(ValidationError, match="no longer changes"):
        _line(review, "fred", "Author").note = "changed afterwards"  # below the service too
        db.session.flush()
    db.session.rollback()
    # The next access review lists what is held then: Olga's author role is gone.
    nxt = _access_review(utcnow() + timedelta(days=91))
    assert nxt.id != review.id
    assert not any(line.person.startswith("olga (") for line in access_lines(nxt))


def test_a_grant_revoked_since_the_review_opened_cannot_be_confirmed(app, people):
    from core.users.service import revoke_assignment

    review = _access_review()
    line = _line(review, "fred", "Author")
    with acting_as(people["quinn"]):
        revoke_assignment(db.session.get(UserRole, line.assignment_id),
                          reason="Left the company", revoked_by=people["quinn"])
        db.session.commit()
    with pytest.raises(ConflictError, match="revoked since the review opened"):
        decide_line(line, people["quinn"], "confirmed")
    db.session.rollback()
    decide_line(line, people["quinn"], "revoked", "Already revoked when he left")
    db.session.commit()
    assert line.decision == "revoked"


def test_only_a_reviewer_decides_a_line(app, people):
    review = _access_review()
    with pytest.raises(PermissionDenied):
        decide_line(_line(review, "olga", "Author"), people["fred"], "revoked", "not mine")
    assert _line(review, "olga", "Author").decision == ""


def test_the_lines_page_confirms_and_revokes_each_line_with_a_csrf_form(app, client, people,
                                                                          make_user):
    review = _access_review()
    page_url = f"/reviews/{review.id}/access-lines"
    login(client, "quinn")
    details = client.get(f"/admin/core_periodic_review/details/?id={review.id}")
    assert page_url in details.get_data(as_text=True)
    page = client.get(page_url)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Olga Old" in text and "inactive: check" in text
    assert "4</strong> lines not yet decided" in text
    olga_line, fred_line = _line(review, "olga", "Author"), _line(review, "fred", "Author")
    token = csrf_token(client, page_url)
    refused = client.post(f"/reviews/access-lines/{olga_line.id}/decide",
                          data={"csrf_token": token, "decision": "revoked", "note": ""})
    assert refused.status_code == 302
    db.session.expire_all()
    assert _line(review, "olga", "Author").decision == ""
    assert "Say why" in client.get(page_url).get_data(as_text=True)
    done = client.post(f"/reviews/access-lines/{olga_line.id}/decide",
                       data={"csrf_token": token, "decision": "revoked", "note": "Left"})
    assert done.status_code == 302
    client.post(f"/reviews/access-lines/{fred_line.id}/decide",
                data={"csrf_token": token, "decision": "confirmed", "note": ""})
    no_token = client.post(f"/reviews/access-lines/{fred_line.id}/decide",
                           data={"decision": "revoked", "note": "x"})
    assert no_token.status_code in (400, 403)
    db.session.expire_all()
    assert _line(review, "olga", "Author").decision == "revoked"
    assert _line(review, "fred", "Author").decision == "confirmed"
    assert db.session.get(UserRole, olga_line.assignment_id).revoked_at is not None
    assert "2</strong> lines not yet decided" in client.get(page_url).get_data(as_text=True)

    make_user("alice", "author")
    other = app.test_client()
    login(other, "alice")
    assert other.post(f"/reviews/access-lines/{fred_line.id}/decide",
                      data={"csrf_token": csrf_token(other, "/admin/"), "decision": "revoked",
                            "note": "x"}).status_code == 403
    assert other.get(page_url).status_code == 403


def test_the_api_lists_the_lines_and_decides_each_one(app, client, people, make_user):
    from core.testing_api import ApiCaller, ok, problem

    review = _access_review()
    quinn = ApiCaller(client, "quinn")
    items = ok(quinn.get(f"/periodic-reviews/{review.id}/access-lines"))["items"]
    olga = next(i for i in items if i["person"] == "olga (Olga Old)")
    assert (olga["role"], olga["scope"], olga["inactive"], olga["decision"]) == (
        "Author", "all studies", True, "")
    assert len(items) == 4
    url = f"/periodic-reviews/access-lines/{olga['id']}/decision"
    problem(quinn.post(url, json={"decision": "revoked"}), 422, "note")
    problem(quinn.post(url, json={"decision": "maybe"}), 422, "decision")
    done = ok(quinn.post(url, json={"decision": "revoked", "note": "Left the team"}))
    assert (done["decision"], done["note"]) == ("revoked", "Left the team")
    db.session.expire_all()
    line = _line(review, "olga", "Author")
    assert db.session.get(UserRole, line.assignment_id).revoked_at is not None
    problem(quinn.post(url, json={"decision": "confirmed"}), 409)
    problem(quinn.post("/periodic-reviews/access-lines/999999/decision",
                       json={"decision": "confirmed"}), 404)
    other = db.session.scalar(select(PeriodicReview).where(PeriodicReview.kind == "system"))
    problem(quinn.get(f"/periodic-reviews/{other.id}/access-lines"), 404)
    make_user("alice", "author")
    alice = ApiCaller(client, "alice")
    fred = _line(review, "fred", "Author")
    problem(alice.post(f"/periodic-reviews/access-lines/{fred.id}/decision",
                       json={"decision": "revoked", "note": "x"}), 403)
    problem(alice.get(f"/periodic-reviews/{review.id}/access-lines"), 403)
    assert _line(review, "fred", "Author").decision == ""

"""Scheduled, signed periodic reviews: the audit trail (A11-09, E6-17) and user access (E6-24)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import SignatureRequest, WorkflowError, attest, signatures_of, transition, update_record
from core.cli.context import system_principal
from core.db import db, utcnow
from core.reviews.models import PeriodicReview
from core.reviews.workflow import open_due_reviews
from core.tasks.models import Task
from core.tasks.service import tasks_for
from core.testing import DEFAULT_PASSWORD, login

pytestmark = [pytest.mark.plugins(), pytest.mark.req("A11-09", "E6-17")]


def _sweep(now):
    with system_principal():
        opened = open_due_reviews(now)
        db.session.commit()
    return opened


def _reviews():
    return {r.kind: r for r in db.session.scalars(select(PeriodicReview)
                                                  .order_by(PeriodicReview.id))}


@pytest.mark.req("E6-24")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_sweep_opens_each_review_once_with_what_to_review_and_a_task(app, make_user, client):
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    old = make_user("olga", "author", full_name="Olga Old")
    make_user("fred", "author", full_name="Fred Fresh")
    old.last_login_at = utcnow() - timedelta(days=200)  # sign-in bookkeeping, not audited
    db.session.commit()
    login(client, "fred", "wrong-password-123")  # one failed sign-in for the audit review
    now = utcnow()

    assert _sweep(now) == 3  # three reviews (access, audit trail, system), each notified once
    assert _sweep(now + timedelta(days=1)) == 0  # open reviews are not opened again
    assert len(_reviews()) == 3
    reviews = _reviews()
    access, audit = reviews["access"], reviews["audit_trail"]
    lines = access.snapshot.splitlines()
    assert "INACTIVE olga (Olga Old): Author @ all studies; last sign-in " in lines[
        [line.split(" ")[1] if line.startswith("INACTIVE") else line.split(" ")[0]
         for line in lines].index("olga")]
    assert any(line.startswith("fred (Fred Fresh): Author") for line in lines)
    assert access.flagged >= 1
    assert "CHECK 1 failed sign-ins" in audit.snapshot.splitlines()
    assert audit.period_start is None and audit.state == "open"
    [task] = db.session.scalars(tasks_for(quinn).where(Task.record_id == audit.id)).all()
    assert task.due == (now + timedelta(days=14)).date() and task.action == "complete"


@pytest.mark.backends("sqlite", "postgresql")
def test_a_review_is_completed_with_an_outcome_and_a_signature_then_the_next_one_follows(
        app, make_user):
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    attest(quinn, DEFAULT_PASSWORD)
    now = utcnow()
    _sweep(now)
    audit = _reviews()["audit_trail"]
    with pytest.raises(WorkflowError, match="record the outcome first"):
        transition(audit, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.rollback()
    update_record(audit, quinn, expected_version=audit.version, reason="Review done",
                  outcome="One failed sign-in: a typo by the user; nothing to do.")
    transition(audit, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    [signature] = signatures_of(audit, valid_only=True)
    assert (audit.state, signature.meaning, signature.signer_id) == (
        "completed", "reviewed", quinn.id)
    assert db.session.scalars(tasks_for(quinn).where(Task.record_id == audit.id)).all() == []

    assert _sweep(now + timedelta(days=29)) == 0  # the period (30 days) has not passed
    assert _sweep(now + timedelta(days=31)) == 1  # the next audit review; access is still open
    latest = db.session.scalars(select(PeriodicReview).where(
        PeriodicReview.kind == "audit_trail").order_by(PeriodicReview.id.desc())).first()
    assert latest.id != audit.id and latest.period_start == audit.period_end


def test_only_the_qa_manager_signs_a_review(app, make_user):
    from core import PermissionDenied

    make_user("quinn", "qa_manager")
    author = make_user("alice", "author")
    attest(author, DEFAULT_PASSWORD)
    _sweep(utcnow())
    audit = _reviews()["audit_trail"]
    with pytest.raises(PermissionDenied):
        transition(audit, "complete", author, signature=SignatureRequest(password=DEFAULT_PASSWORD))


@pytest.mark.plugins("capa")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_study_gets_its_own_audit_trail_review_of_its_records_events_at_its_own_frequency(
        app, make_user, client):
    from core import create_record
    from core.reviews.models import StudyReviewPlan
    from core.reviews.snapshot import audit_snapshot
    from core.studies import Study

    one, two = Study(code="ST-1", title="One"), Study(code="ST-2", title="Two")
    with system_principal():
        db.session.add_all([one, two])
        db.session.commit()
        db.session.add(StudyReviewPlan(study_id=one.id, audit_review_days=10))
        db.session.commit()
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    make_user("fred", "author")
    attest(quinn, DEFAULT_PASSWORD)

    def event(study, title):
        found = create_record("capa_event", quinn, title=title, category="deviation",
                              description="What happened.", study_id=study.id)
        db.session.commit()
        return found

    def counted(study):
        return int(audit_snapshot(None, utcnow(), study.id)[0].splitlines()[0].split()[0])

    first = event(one, "Consent on an old form")
    login(client, "fred", "wrong-password-123")  # a failed sign-in: about no study
    before = counted(one)
    assert before > 0
    other = event(two, "Late SAE report")
    update_record(other, quinn, expected_version=other.version, reason="More detail",
                  description="Reported 3 days late.")
    db.session.commit()
    assert counted(one) == before  # the other study's records do not count
    update_record(first, quinn, expected_version=first.version, reason="More detail",
                  description="Old ICF version 2 used.")
    db.session.commit()
    assert counted(one) == before + 1
    make_user("rita", "reviewer", study=one)  # a role granted in the study counts too
    assert counted(one) > before + 1
    expected = counted(one)

    now = utcnow()
    _sweep(now)
    reviews = db.session.scalars(select(PeriodicReview).where(
        PeriodicReview.kind == "audit_trail").order_by(PeriodicReview.id)).all()
    [whole, study] = reviews  # the global review is kept as it was; none for ST-2 (no plan)
    assert whole.study_id is None and "CHECK 1 failed sign-ins" in whole.snapshot.splitlines()
    assert study.study_id == one.id and "of study ST-1" in study.title
    lines = study.snapshot.splitlines()
    assert lines[0] == f"{expected} audit entries in the period"
    assert "0 failed sign-ins" in lines
    from core.reviews.system_report import review_status
    status = review_status("audit_trail")  # the system review reports the study's review too
    assert status["lines"][1].startswith(f"Study ST-1: {study.number}, open")
    assert status["flagged"] == 2  # both open
    update_record(study, quinn, expected_version=study.version, reason="Review done",
                  outcome="Corrections justified; nothing to do.")
    transition(study, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()

    _sweep(now + timedelta(days=9))  # ST-1 is reviewed every 10 days
    assert db.session.scalar(select(PeriodicReview).where(
        PeriodicReview.study_id == one.id, PeriodicReview.state == "open")) is None
    _sweep(now + timedelta(days=11))
    following = db.session.scalars(select(PeriodicReview).where(
        PeriodicReview.study_id == one.id).order_by(PeriodicReview.id.desc())).first()
    assert following.id != study.id and following.period_start == study.period_end
    assert following.state == "open"


@pytest.mark.backends("sqlite", "postgresql")
def test_an_administrator_plans_a_studys_audit_trail_reviews_with_a_reason(app, make_user,
                                                                           client):
    from core.reviews.models import StudyReviewPlan
    from core.studies import Study
    from core.testing import csrf_token

    with system_principal():
        db.session.add(Study(code="ST-1", title="One"))
        db.session.commit()
    study = db.session.scalar(select(Study))
    make_user("adam", "system_admin")
    login(client, "adam")
    url = "/admin/core_study_review_plans/new/"
    token = csrf_token(client, url)
    bad = client.post(url, data={"csrf_token": token, "study": str(study.id),
                                 "audit_review_days": "0", "active": "y",
                                 "reason": "ST-1 is high risk"})
    assert bad.status_code == 200 and "From 1 to 366 days." in bad.get_data(as_text=True)
    done = client.post(url, data={"csrf_token": token, "study": str(study.id),
                                  "audit_review_days": "14", "active": "y",
                                  "reason": "ST-1 is high risk"})
    assert done.status_code == 302
    [plan] = db.session.scalars(select(StudyReviewPlan)).all()
    assert (plan.study_id, plan.audit_review_days, plan.active) == (study.id, 14, True)
    listing = client.get("/admin/core_study_review_plans/").get_data(as_text=True)
    assert "ST-1" in listing and "Days between reviews" in listing

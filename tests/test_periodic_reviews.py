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

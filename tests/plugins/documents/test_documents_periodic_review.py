"""Periodic review: the sweep opens a review task once, and the two outcomes close it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from documents_helpers import draft, people, seeded, sig, step, to_effective
from sqlalchemy import select

from core import Task, WorkflowError, db, signatures_of, update_record, utcnow
from core.notifications.reminders import run_reminders
from plugins.documents.services import revise
from plugins.documents.workflows import add_months

pytestmark = pytest.mark.plugins("documents")
KIND = "documents.periodic_review"


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def review_tasks(document):  # type: ignore[no-untyped-def]
    return [(t.state, t.assignee_id, t.due, t.action) for t in db.session.scalars(
        select(Task).where(Task.record_id == document.id, Task.kind == KIND).order_by(Task.id))]


def effective_document(team, due_in_days):  # type: ignore[no-untyped-def]
    author, reviewer, approver, qa = team
    document, version = draft(author)
    to_effective(version, author, reviewer, approver, qa)
    due = utcnow().date() + timedelta(days=due_in_days)
    update_record(document, author, expected_version=document.version, next_review_date=due,
                  reason="Review brought forward")  # documents.create edits documents
    db.session.commit()
    return document, version, due


def sweep() -> int:
    [result] = [r for r in run_reminders() if r.key == KIND]
    assert not result.error, result.error
    return result.queued


@pytest.mark.req("ISO-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_sweep_opens_one_review_task_and_confirming_resets_the_date(team, system_actor):
    author, _reviewer, approver, _qa = team
    later, _v, _due = effective_document(team, 90)
    document, _version, due = effective_document(team, 10)
    assert later.number != document.number
    assert sweep() == 1
    assert sweep() == 0  # idempotent: one task, one reminder per due date
    assert review_tasks(document) == [("open", author.id, due, "confirm_review")]
    assert review_tasks(later) == []  # outside the 30-day reminder window
    with pytest.raises(WorkflowError, match="in state 'effective'"):
        step(document, "activate", approver)
    db.session.rollback()
    step(document, "confirm_review", approver, signature=sig())
    assert document.next_review_date == add_months(utcnow().date(), 24)
    assert review_tasks(document)[0][0] == "done"
    assert [s.meaning for s in signatures_of(document)] == ["approved"]


@pytest.mark.req("ISO-02")
def test_a_revision_answers_the_periodic_review(team, system_actor):
    author, reviewer, approver, qa = team
    document, _version, _due = effective_document(team, 0)
    sweep()
    second = revise(document, author, major=False, change_summary="Updated",
                    change_reason="Periodic review")
    db.session.commit()
    with pytest.raises(WorkflowError, match="the revision answers the review"):
        step(document, "confirm_review", approver, signature=sig())
    db.session.rollback()
    to_effective(second, author, reviewer, approver, qa)
    assert review_tasks(document)[0][0] == "done"
    assert document.next_review_date == add_months(utcnow().date(), 24)

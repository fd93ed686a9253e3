"""A named reviewer's delegate (P11-23): while the reviewer is absent, their delegate signs the
review with their own signature on the reviewer's behalf; it counts as the named reviewer's
review, and neither of them may then approve. Without a delegation the named-reviewer rule holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from documents_helpers import attach, draft, people, sig, step
from sqlalchemy import select

from core import SignatureRequest, Task, WorkflowError, attest, db, signatures_of, utcnow
from core.delegations.service import record_absence
from core.testing import DEFAULT_PASSWORD
from plugins.documents import queries
from plugins.documents.services import name_reviewer, seed_types

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def team(app, make_user, system_actor):
    seed_types()
    db.session.commit()
    author, _rita, bob, _qa = people(make_user)
    rhea, ava = make_user("rhea", "reviewer"), make_user("ava", "approver")
    for user in (rhea, ava):
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return author, bob, rhea, ava


def _for(absent):  # type: ignore[no-untyped-def]
    return SignatureRequest(password=DEFAULT_PASSWORD, on_behalf_of=absent.username)


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("P11-23")
def test_a_named_reviewers_delegate_reviews_on_their_behalf(team):
    author, bob, rhea, ava = team  # bob approves, and is named to review this one
    _document, version = draft(author)
    attach(version, author)
    name_reviewer(version, author, "bob")
    step(version, "submit", author)
    with pytest.raises(WorkflowError, match="named reviewers only"):
        step(version, "review", rhea, signature=sig())  # not named, no delegation
    db.session.rollback()

    today = utcnow().date()
    record_absence(bob, rhea, today, today + timedelta(days=3), "Annual leave", bob)
    db.session.commit()
    step(version, "review", rhea, signature=_for(bob))
    [review] = [s for s in signatures_of(version) if s.meaning == "reviewed"]
    assert (review.signer_id, review.on_behalf_of_id) == (rhea.id, bob.id)
    assert queries.reviews_missing(version) == 0  # bob's review, given by his delegate
    [task] = db.session.scalars(select(Task).where(Task.record_id == version.id,
                                                   Task.kind == "documents.review")).all()
    assert (task.state, task.completed_by_id) == ("done", rhea.id)

    with pytest.raises(WorkflowError, match="reviewer of this version may not also approve"):
        step(version, "approve", bob, signature=sig())  # reviewed on his behalf
    db.session.rollback()
    step(version, "approve", ava, signature=sig())
    assert version.state == "approved"

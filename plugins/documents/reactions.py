"""After-commit reactions: review and approval tasks, and the ``documents_version_effective``
hook for other plugins (training)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import call_hook, close_tasks, db, open_task, utcnow
from plugins.documents import queries

REVIEW_TASK = "documents.review"
APPROVAL_TASK = "documents.approve"
DUE_DAYS = 10


def version_transitioned(version: Any, transition: Any, user: Any) -> None:
    name = transition.name
    named = queries.named_reviewers(version)
    if name == "submit":
        due = utcnow().date() + timedelta(days=DUE_DAYS)
        for who in [{"assignee": r.user} for r in named] or [{"role": "reviewer"}]:
            open_task(version, REVIEW_TASK, f"Review {version.number}", due=due,
                      action="review", by=user, **who)
    elif name == "review" and named:
        close_tasks(version, kind=REVIEW_TASK, assignee=user, by=user)
    if name == "review" and not queries.reviews_missing(version):
        close_tasks(version, kind=REVIEW_TASK, by=user)
        open_task(version, APPROVAL_TASK, f"Approve {version.number}", role="approver",
                  action="approve", by=user)
    elif name == "approve":
        close_tasks(version, kind=REVIEW_TASK, by=user)
        close_tasks(version, kind=APPROVAL_TASK, by=user)
    elif name == "reject":
        for kind in (REVIEW_TASK, APPROVAL_TASK):
            close_tasks(version, kind=kind, by=user, state="cancelled")
    db.session.commit()
    if name == "make_effective":
        call_hook("documents_version_effective", document=queries.document_of(version),
                  version=version)

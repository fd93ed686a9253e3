"""After-commit reactions: a task for every human step a version waits for (review, approval,
making it effective), each with a due date from the settings, and the
``documents_version_effective`` hook for other plugins (training)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core import call_hook, close_tasks, db, get_setting, open_task, utcnow
from plugins.documents import queries

REVIEW_TASK = "documents.review"
APPROVAL_TASK = "documents.approve"
EFFECTIVE_TASK = "documents.make_effective"
STEP_TASKS = (REVIEW_TASK, APPROVAL_TASK, EFFECTIVE_TASK)


def _due(setting: str, not_before: date | None = None) -> date:
    due = utcnow().date() + timedelta(days=get_setting(f"documents.{setting}"))
    return max(due, not_before) if not_before is not None else due


def version_transitioned(version: Any, transition: Any, user: Any) -> None:
    name = transition.name
    named = queries.named_reviewers(version)
    if name == "submit":
        due = version.review_due or _due("review_due_days")
        for who in [{"assignee": r.user} for r in named] or [{"role": "reviewer"}]:
            open_task(version, REVIEW_TASK, f"Review {version.number}", due=due,
                      action="review", by=user, **who)
    elif name == "review" and named:
        close_tasks(version, kind=REVIEW_TASK, assignee=user, by=user)
    if name == "review" and not queries.reviews_missing(version):
        close_tasks(version, kind=REVIEW_TASK, by=user)
        open_task(version, APPROVAL_TASK, f"Approve {version.number}", role="approver",
                  action="approve", by=user, due=_due("approval_due_days"))
    elif name == "approve":
        close_tasks(version, kind=REVIEW_TASK, by=user)
        close_tasks(version, kind=APPROVAL_TASK, by=user)
        open_task(version, EFFECTIVE_TASK, f"Make {version.number} effective",
                  role="qa_manager", action="make_effective", by=user,
                  due=_due("effective_due_days", version.planned_effective_date))
    elif name == "make_effective":
        close_tasks(version, kind=EFFECTIVE_TASK, by=user)
    elif name == "reject":
        for kind in STEP_TASKS:
            close_tasks(version, kind=kind, by=user, state="cancelled")
    db.session.commit()
    if name == "make_effective":
        call_hook("documents_version_effective", document=queries.document_of(version),
                  version=version)

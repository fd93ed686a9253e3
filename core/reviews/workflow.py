"""The periodic review's workflow (open -> completed, signed) and the sweep that opens reviews:
the global audit-trail, user-access and system reviews, and an audit-trail review of each study
with an active review plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db import db
from core.notifications.service import notify
from core.records.rules import server_write
from core.records.service import create_record
from core.reviews.access_lines import add_access_lines, lines_decided
from core.reviews.models import (
    KINDS,
    SNAPSHOT_FIELDS,
    AccessReviewLine,
    PeriodicReview,
    StudyReviewPlan,
)
from core.reviews.snapshot import access_snapshot, audit_snapshot
from core.reviews.system_report import report_text, system_report
from core.settings import get_setting
from core.specs import RecordType, Retention, Transition, Workflow
from core.studies import Study
from core.tasks.service import close_tasks, open_task, recipients
from core.users.service import ensure_system_user

KEY = "core_periodic_review"
VIEW, PERFORM = "core.reviews.view", "core.reviews.perform"
REVIEWER_ROLE = "qa_manager"
TASK = "core.periodic_review"
DAYS_TO_COMPLETE = 14
PERIOD_SETTING = {"access": "core.access_review_days", "audit_trail": "core.audit_review_days",
                  "system": "core.system_review_days"}


def outcome_given(review: PeriodicReview, _user: Any) -> list[str]:
    return [] if (review.outcome or "").strip() else [
        "record the outcome first (what was found and what was done)"]


def review_done(review: PeriodicReview, user: Any) -> None:
    close_tasks(review, kind=TASK, by=user)


WORKFLOW = Workflow(
    KEY, ("open", "completed"), "open",
    (Transition("complete", ("open",), "completed", PERFORM, "Complete the review",
                signature="reviewed", guards=(outcome_given, lines_decided),
                effects=(review_done,)),),
    categories={"open": "open", "completed": "closed"},
)


def record_type() -> RecordType:
    return RecordType(
        KEY, "Periodic review", PeriodicReview, "REV", KEY, number_per_year=True,
        retention=Retention(years=25),
        controlled_fields=(*SNAPSHOT_FIELDS, "decisions", "outcome"), view_permission=VIEW,
        manage_permission=PERFORM, server_fields=(*SNAPSHOT_FIELDS, "decisions"),
        admin_category="System",
        items=(AccessReviewLine,), frozen_states=("completed",),
        frozen_hint="a completed review no longer changes", list_columns=("kind",),
        choices={"kind": tuple(KINDS.items())},
        labels={"snapshot": "What to review", "flagged": "Lines flagged for a check",
                "decisions": "Access decisions (confirmed or revoked)",
                "outcome": "Outcome (what was found and done)"},
    )


def _latest(kind: str, study_id: int | None = None) -> PeriodicReview | None:
    return db.session.scalars(select(PeriodicReview).where(
        PeriodicReview.kind == kind, PeriodicReview.study_id.is_(None) if study_id is None
        else PeriodicReview.study_id == study_id)
        .order_by(PeriodicReview.period_end.desc()).limit(1)).first()


def _schedules() -> Iterator[tuple[str, Study | None, int]]:
    """(kind, study or None, days between reviews) of every review the sweep keeps."""
    for kind in KINDS:
        yield kind, None, int(get_setting(PERIOD_SETTING[kind]))
    plans = db.session.scalars(select(StudyReviewPlan).where(StudyReviewPlan.active.is_(True))
                               .order_by(StudyReviewPlan.id))
    for plan in plans:
        if plan.study.active:
            yield "audit_trail", plan.study, plan.audit_review_days


def _snapshot(kind: str, study: Study | None, start: datetime | None,
              now: datetime) -> tuple[str, int]:
    if kind == "access":
        return access_snapshot(now, int(get_setting("core.inactive_account_days")))
    if kind == "system":
        return report_text(system_report(start, now))
    return audit_snapshot(start, now, study.id if study is not None else None)


def open_due_reviews(now: datetime) -> int:
    """Open a review of each kind (and each planned study's audit-trail review) whose last one
    ended more than its period ago (or that never had one), unless one is still open, with a
    task and a notification for each reviewer; returns the notifications queued. Idempotent."""
    system = ensure_system_user()
    queued = 0
    for kind, study, days in _schedules():
        label = KINDS[kind]
        last = _latest(kind, study.id if study is not None else None)
        if last is not None and (last.state == "open"
                                 or now - last.period_end < timedelta(days=days)):
            continue
        start = last.period_end if last is not None else None
        if kind == "system" and start is None:  # the first one looks back one period
            start = now - timedelta(days=days)
        snapshot, flagged = _snapshot(kind, study, start, now)
        title = f"{label} of study {study.code}" if study is not None else label
        with server_write(KEY):  # the snapshot: no form or API request sets it
            review = create_record(KEY, system, reason="Scheduled periodic review",
                                   title=f"{title} to {now:%Y-%m-%d}", kind=kind,
                                   period_start=start, period_end=now, snapshot=snapshot,
                                   flagged=flagged, study_id=study.id if study else None)
        if kind == "access":
            add_access_lines(review, now, int(get_setting("core.inactive_account_days")), system)
        due = now + timedelta(days=DAYS_TO_COMPLETE)
        task = open_task(review, TASK, f"{title} {review.number}: review and sign",
                         role=REVIEWER_ROLE, due=due, action="complete", by=system)
        queued += sum(notify(TASK, reviewer, f"{title} {review.number} is due by {due:%Y-%m-%d}",
                             f"Review what {review.number} lists ({review.flagged} lines to "
                             "check), record the outcome and sign it.", record=review, due=due)
                      for reviewer in recipients(task))
    return queued

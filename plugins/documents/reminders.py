"""The periodic review sweep (ISO 13485 4.2.4(b)): effective documents whose review falls due
get a review task for their owner and a reminder, once per due date."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core import db, get_setting, notify, open_task
from plugins.documents.models import Document
from plugins.documents.workflows import PERIODIC_REVIEW


def due_for_review(now: datetime) -> list[Document]:
    horizon = now.date() + timedelta(days=get_setting("documents.review_reminder_days"))
    return list(db.session.scalars(select(Document).where(
        Document.state == "effective", Document.next_review_date <= horizon)
        .order_by(Document.next_review_date, Document.id)))


def periodic_review_sweep(now: datetime) -> int:
    """Open (once) the review task of each document due within the reminder window and remind
    its owner; returns how many reminders were queued."""
    queued = 0
    for document in due_for_review(now):
        owner = document.owner
        who = {"assignee": owner} if owner.active and not owner.is_service else {
            "role": "qa_manager"}
        title = f"Periodic review of {document.number} due {document.next_review_date}"
        open_task(document, PERIODIC_REVIEW, title, due=document.next_review_date,
                  action="confirm_review", **who)
        queued += notify(PERIODIC_REVIEW, owner, title,
                         f"Confirm {document.number} {document.title} unchanged (sign it), or "
                         "revise it.", record=document, due=document.next_review_date)
    return queued

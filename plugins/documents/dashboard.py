"""The documents dashboard card: work in progress and periodic reviews due, in the user's scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core import Record, db, get_setting, scope_clause, utcnow
from plugins.documents.models import Document, DocumentVersion


def _count(model: type, user: Any, *conditions: Any) -> int:
    scope = scope_clause(user, "documents.view", Record.study_id, Record.site_id)
    return db.session.scalar(select(func.count()).select_from(model).where(scope, *conditions)) or 0


def work_context(user: Any) -> dict[str, Any]:
    window = get_setting("documents.review_reminder_days")
    horizon = utcnow().date() + timedelta(days=window)
    return {
        "in_review": _count(DocumentVersion, user, DocumentVersion.state == "in_review"),
        "approved": _count(DocumentVersion, user, DocumentVersion.state == "approved"),
        "review_due": _count(Document, user, Document.state == "effective",
                             Document.next_review_date <= horizon),
        "window": window,
    }

"""Point of use (ISO-04): what a reader sees of documents and versions, the record-page badge of
superseded, obsolete and disposed records, and the admin list filters. Distribution (ISO-05): a
document naming ``distribution_roles`` is read by plain readers holding one of those roles."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from sqlalchemy import literal, or_, select

from core import Record, get_setting, has_permission

HISTORY = "documents.view_history"
# Holders of any of these see work in progress (drafts, versions in review, approved ones).
WORK_PERMISSIONS = ("documents.create", "documents.review", "documents.approve",
                    "documents.manage")
VERSION_CURRENT = ("effective",)
VERSION_IN_PROGRESS = ("draft", "in_review", "approved")
DOCUMENT_CURRENT = ("effective",)
DOCUMENT_IN_PROGRESS = ("draft",)
BADGES = {"superseded": "SUPERSEDED", "obsolete": "OBSOLETE", "disposed": "DISPOSED"}


def _visible_states(user: Any, current: tuple[str, ...],
                    in_progress: tuple[str, ...]) -> tuple[str, ...] | None:
    """States ``user`` may read (None: all of them, with ``documents.view_history``)."""
    if has_permission(user, HISTORY):
        return None
    if any(has_permission(user, name) for name in WORK_PERMISSIONS):
        return (*current, *in_progress)
    return current


def _plain_reader(user: Any) -> bool:
    """Neither history nor any work permission: distribution restrictions apply."""
    return not any(has_permission(user, name) for name in (HISTORY, *WORK_PERMISSIONS))


def _distributed_to(user: Any, roles_column: Any) -> Any:
    """``roles_column`` is empty or names one of the user's active roles."""
    keys = sorted({a.role.key for a in user.active_assignments()})
    padded = literal(",") + roles_column + literal(",")
    return or_(roles_column == "", *[padded.contains(f",{key},", autoescape=True)
                                     for key in keys])


def _all(*conditions: Any) -> Any:
    present = [c for c in conditions if c is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else present[0] & present[1]


def version_read_filter(user: Any) -> Any:
    """Plain readers see effective versions (of documents distributed to them); authors,
    reviewers, approvers and QA also see work in progress; superseded and obsolete versions need
    ``documents.view_history``."""
    from plugins.documents.models import Document, DocumentVersion

    states = _visible_states(user, VERSION_CURRENT, VERSION_IN_PROGRESS)
    distributed = None
    if _plain_reader(user):
        documents = Document.__table__
        # The table, not the entity, and no correlation: the outer query is on core_record.
        allowed = select(documents.c.id).where(
            _distributed_to(user, documents.c.distribution_roles)).correlate(None)
        distributed = DocumentVersion.document_id.in_(allowed)
    return _all(None if states is None else Record.state.in_(states), distributed)


def document_read_filter(user: Any) -> Any:
    """Obsolete and disposed documents need ``documents.view_history``; documents never
    effective yet are for those who work on documents; plain readers see only the documents
    distributed to them."""
    from plugins.documents.models import Document

    states = _visible_states(user, DOCUMENT_CURRENT, DOCUMENT_IN_PROGRESS)
    distributed = _distributed_to(user, Document.distribution_roles) if _plain_reader(user) \
        else None
    return _all(None if states is None else Record.state.in_(states), distributed)


def badge(record: Any) -> str | None:
    return BADGES.get(record.state)


# -- admin list filters --------------------------------------------------------------------------


class DueForReview(BaseSQLAFilter):
    """Effective documents whose periodic review falls within the reminder window (or is past)."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        from plugins.documents.models import Document

        horizon = date.today() + timedelta(days=get_setting("documents.review_reminder_days"))
        due = (Document.next_review_date.is_not(None)) & (Document.next_review_date <= horizon) \
            & (Record.state == "effective")
        return query.filter(due if value == "1" else ~due)

    def operation(self) -> str:
        return "is"


def document_filters() -> tuple[Any, ...]:
    from plugins.documents.models import Document

    return (
        FilterEqual("document_type.code", "Type (code)"),
        FilterEqual("owner.username", "Owner (username)"),
        FilterEqual("study.code", "Study (code)"),
        DueForReview(Document.next_review_date, "Due for periodic review",
                     options=(("1", "yes"), ("0", "no"))),
    )


def version_filters() -> tuple[Any, ...]:
    return (
        FilterEqual("document.document_type.code", "Type (code)"),
        FilterEqual("owner.username", "Owner (username)"),
        FilterEqual("study.code", "Study (code)"),
    )

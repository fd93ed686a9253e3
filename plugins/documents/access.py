"""Point of use (ISO-04): what a reader sees of documents and versions, the record-page badge of
superseded, obsolete and disposed records, and the admin list filters. Distribution (ISO-05): a
document naming ``distribution_roles`` is read by plain readers holding one of those roles."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from sqlalchemy import literal, or_, select
from sqlalchemy.sql.elements import True_

from core import Record, get_setting, scope_clause
from plugins.documents.models import Document, DocumentVersion

HISTORY = "documents.view_history"
# Holders of any of these see work in progress (drafts, versions in review, approved ones)
# where they hold it: a draft of site 102 is not shown to an author of site 101.
WORK_PERMISSIONS = ("documents.create", "documents.review", "documents.approve",
                    "documents.manage")
VERSION_CURRENT = ("effective",)
VERSION_IN_PROGRESS = ("draft", "in_review", "approved")
DOCUMENT_CURRENT = ("effective",)
DOCUMENT_IN_PROGRESS = ("draft",)
BADGES = {"superseded": "SUPERSEDED", "obsolete": "OBSOLETE", "disposed": "DISPOSED"}


def _work_scope(user: Any) -> Any:
    """Where ``user`` works on documents: the study/site of their work permissions (documents
    of no study only with a global one, as ``may_act_in`` has it)."""
    return or_(*[scope_clause(user, name, Record.study_id, Record.site_id, global_rows=False)
                 for name in WORK_PERMISSIONS])


def _history_scope(user: Any) -> Any:
    return scope_clause(user, HISTORY, Record.study_id, Record.site_id)


def _distributed_to(user: Any, roles_column: Any) -> Any:
    """``roles_column`` is empty or names one of the user's active roles."""
    keys = sorted({a.role.key for a in user.active_assignments()})
    padded = literal(",") + roles_column + literal(",")
    return or_(roles_column == "", *[padded.contains(f",{key},", autoescape=True)
                                     for key in keys])


def _visible(user: Any, current: tuple[str, ...], in_progress: tuple[str, ...],
             distributed: Any) -> Any:
    """Current states (where distributed to the user, unless they work on documents or read
    their history there), work in progress where the user works on documents, and every state
    where they hold ``documents.view_history``; None: everything."""
    work, history = _work_scope(user), _history_scope(user)
    if isinstance(history, True_):
        return None
    return or_(Record.state.in_(current) & or_(distributed, work, history),
               Record.state.in_(in_progress) & work, history)


def version_read_filter(user: Any) -> Any:
    """Plain readers see effective versions (of documents distributed to them); authors,
    reviewers, approvers and QA also see work in progress where they work on documents;
    superseded and obsolete versions need ``documents.view_history`` in their scope."""
    documents = Document.__table__
    # The table, not the entity, and no correlation: the outer query is on core_record.
    allowed = select(documents.c.id).where(
        _distributed_to(user, documents.c.distribution_roles)).correlate(None)
    return _visible(user, VERSION_CURRENT, VERSION_IN_PROGRESS,
                    DocumentVersion.document_id.in_(allowed))


def document_read_filter(user: Any) -> Any:
    """Obsolete and disposed documents need ``documents.view_history``; documents never
    effective yet are for those who work on documents where they are; plain readers see only
    the documents distributed to them."""
    return _visible(user, DOCUMENT_CURRENT, DOCUMENT_IN_PROGRESS,
                    _distributed_to(user, Document.distribution_roles))


def badge(record: Any) -> str | None:
    return BADGES.get(record.state)


# -- admin list filters --------------------------------------------------------------------------


class DueForReview(BaseSQLAFilter):
    """Effective documents whose periodic review falls within the reminder window (or is past)."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        horizon = date.today() + timedelta(days=get_setting("documents.review_reminder_days"))
        due = (Document.next_review_date.is_not(None)) & (Document.next_review_date <= horizon) \
            & (Record.state == "effective")
        return query.filter(due if value == "1" else ~due)

    def operation(self) -> str:
        return "is"


def document_filters() -> tuple[Any, ...]:
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

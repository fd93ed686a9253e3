"""The documents plugin's services: reference data, documents, versions and revisions.

They flush in the caller's transaction; the caller commits (or rolls back on error). State
changes go through ``core.transition`` (see ``workflows``), which any path may call.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from core import (
    PermissionDenied,
    User,
    ValidationError,
    WorkflowError,
    audit_reason,
    create_record,
    db,
    may_act_in,
    utcnow,
)
from plugins.documents import queries
from plugins.documents.models import Document, DocumentType, DocumentVersion, VersionReviewer
from plugins.documents.numbering import next_label

# code, label, prefix, review interval (months), training required
STANDARD_TYPES = (
    ("SOP", "Standard operating procedure", "SOP", 24, True),
    ("WI", "Work instruction", "WI", 24, True),
    ("FORM", "Form or template", "FORM", 36, False),
    ("POLICY", "Policy", "POL", 36, True),
    ("PLAN", "Study or quality plan", "PLAN", 12, False),
    ("EXTERNAL", "Document of external origin", "EXT", 24, False),
)


def seed_types() -> int:
    """Add the standard document types that are missing (idempotent); returns how many."""
    existing = set(db.session.scalars(select(DocumentType.code)))
    added = 0
    with audit_reason("Standard document types (cqms documents seed-types)"):
        for code, label, prefix, months, training in STANDARD_TYPES:
            if code in existing:
                continue
            db.session.add(DocumentType(code=code, label=label, number_prefix=prefix,
                                        review_interval_months=months,
                                        training_required=training, approver_role=""))
            added += 1
        db.session.flush()
    return added


def type_by_code(code: str) -> DocumentType:
    doc_type = db.session.scalar(select(DocumentType).where(DocumentType.code == code))
    if doc_type is None or not doc_type.active:
        raise ValidationError({"document_type": f"No active document type {code!r}."})
    return doc_type


def create_document(user: Any, *, title: str, type_code: str, reason: str = "",
                    **values: Any) -> Document:
    """A new document of the type ``type_code`` (number from the type's prefix), in draft."""
    doc_type = type_by_code(type_code)
    return create_record("documents_document", user, reason=reason, title=title,
                         document_type_id=doc_type.id, **values)


def create_version(document: Document, user: Any, *, title: str | None = None,
                   reason: str = "", **values: Any) -> DocumentVersion:
    """A new draft version of ``document``; training follows the type unless given."""
    doc_type = queries.type_of(document)
    if "training_required" not in values and doc_type is not None:
        values["training_required"] = doc_type.training_required
    return create_record("documents_version", user, reason=reason,
                         title=title or document.title, document_id=document.id,
                         study_id=document.study_id, site_id=document.site_id, **values)


def revise(document: Document, user: Any, *, major: bool, change_summary: str,
           change_reason: str, planned_effective_date: date | None = None,
           reason: str = "") -> DocumentVersion:
    """The next draft version (major ``2.0`` or minor ``1.1``) of an effective document,
    copying the effective version's metadata."""
    current = queries.effective_version(document)
    if document.state != "effective" or current is None:
        raise WorkflowError(f"{document.number} is not effective: only an effective document "
                            "is revised")
    labels = [v.version_label for v in queries.versions_of(document)]
    return create_version(
        document, user, title=current.title, reason=reason or "Revision",
        version_label=next_label(labels, major=major), change_summary=change_summary,
        change_reason=change_reason, planned_effective_date=planned_effective_date,
        training_required=current.training_required, reviews_required=current.reviews_required)


def _may_name_reviewers(version: DocumentVersion, user: Any) -> None:
    if not may_act_in(user, "documents.create", study=version.study, site=version.site):
        raise PermissionDenied(f"documents.create is required to name the reviewers of "
                               f"{version.number}")


def reviewer_by_username(version: DocumentVersion, username: str) -> User:
    """An active user holding ``documents.review`` where the version is."""
    user = User.by_username(username)
    if user is None or not user.active or user.is_service:
        raise ValidationError({"username": f"No active user {username!r}."})
    if not may_act_in(user, "documents.review", study=version.study, site=version.site):
        raise ValidationError({"username": f"{user.username} may not review documents here "
                                           "(documents.review)."})
    return user


def name_reviewer(version: DocumentVersion, by: Any, username: str,
                  reason: str = "") -> VersionReviewer:
    """Name a reviewer of a draft version (audited). Flushes; the caller commits."""
    _may_name_reviewers(version, by)
    user = reviewer_by_username(version, username)
    existing = db.session.scalar(select(VersionReviewer).where(
        VersionReviewer.version_id == version.id, VersionReviewer.user_id == user.id))
    if existing is not None and existing.removed_at is None:
        raise ValidationError({"username": f"{user.username} is already a reviewer."})
    with audit_reason(reason or f"{user.username} named reviewer of {version.number}"):
        if existing is not None:  # named again after a withdrawal: the same row, audited
            existing.removed_at = existing.removed_by_id = None
            reviewer = existing
        else:
            reviewer = VersionReviewer(version_id=version.id, user_id=user.id,
                                       added_by_id=by.id, added_at=utcnow())
            db.session.add(reviewer)
        db.session.flush()
    return reviewer


def withdraw_reviewer(version: DocumentVersion, by: Any, username: str,
                      reason: str = "") -> VersionReviewer:
    """Withdraw a named reviewer of a draft version (audited; the row stays)."""
    _may_name_reviewers(version, by)
    reviewer = next((r for r in queries.named_reviewers(version)
                     if r.user.username == (username or "").strip()), None)
    if reviewer is None:
        raise ValidationError({"username": f"{username!r} is not a reviewer of "
                                           f"{version.number}."})
    with audit_reason(reason or f"{username} withdrawn as reviewer of {version.number}"):
        reviewer.removed_at, reviewer.removed_by_id = utcnow(), by.id
        db.session.flush()
    return reviewer


def review_status(version: DocumentVersion) -> list[dict[str, Any]]:
    """Each named reviewer and whether their review is signed on the current content."""
    signed = queries.reviewed_for(version)
    return [{"username": r.user.username, "printed_name": r.user.printed_name,
             "added_at": r.added_at, "reviewed": r.user_id in signed}
            for r in queries.named_reviewers(version)]

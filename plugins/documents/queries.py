"""Read-only lookups shared by the guards, the services and the hooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from core import db, signatures_of, states_in
from plugins.documents.models import (
    Document,
    DocumentType,
    DocumentVersion,
    VersionReviewer,
)

VERSION_TYPE = "documents_version"
DOCUMENT_TYPE = "documents_document"


def in_progress_states() -> tuple[str, ...]:
    """Version states of work in progress (draft or open): a document has at most one such
    version at a time."""
    return states_in(VERSION_TYPE, "draft", "open")


def retired_states() -> tuple[str, ...]:
    """Document states in which it gets no new versions (closed)."""
    return states_in(DOCUMENT_TYPE, "closed")


def document_of(version: DocumentVersion) -> Document | None:
    return db.session.get(Document, version.document_id) if version.document_id else None


def type_of(document: Document) -> DocumentType | None:
    return db.session.get(DocumentType, document.document_type_id) if document.document_type_id \
        else None


def versions_of(document: Document) -> list[DocumentVersion]:
    return list(db.session.scalars(select(DocumentVersion).where(
        DocumentVersion.document_id == document.id).order_by(DocumentVersion.id)))


def effective_version(document: Document) -> DocumentVersion | None:
    """The one effective version of ``document`` (None before the first, or once obsolete)."""
    return db.session.scalar(select(DocumentVersion).where(
        DocumentVersion.effective_document_id == document.id))


def versions_in_progress(document_id: int, exclude: int | None = None) -> list[DocumentVersion]:
    stmt = select(DocumentVersion).where(DocumentVersion.document_id == document_id,
                                         DocumentVersion.state.in_(in_progress_states()))
    if exclude is not None:
        stmt = stmt.where(DocumentVersion.id != exclude)
    return list(db.session.scalars(stmt))


def count_in_state(document_id: int, state: str, exclude: int | None = None) -> int:
    stmt = select(func.count()).select_from(DocumentVersion).where(
        DocumentVersion.document_id == document_id, DocumentVersion.state == state)
    if exclude is not None:
        stmt = stmt.where(DocumentVersion.id != exclude)
    return db.session.scalar(stmt) or 0


def valid_signers(version: DocumentVersion, meaning: str) -> set[int]:
    """Users whose ``meaning`` signature on the version's current content is still valid."""
    return {s.signer_id for s in signatures_of(version, valid_only=True)
            if s.meaning == meaning and s.content_hash == version.content_hash}


def reviewed_for(version: DocumentVersion) -> set[int]:
    """The people whose review of the current content is given: by themselves, or by their
    delegate on their behalf (the delegate's own signature, P11-23)."""
    return {s.on_behalf_of_id or s.signer_id for s in signatures_of(version, valid_only=True)
            if s.meaning == "reviewed" and s.content_hash == version.content_hash}


def parse_label(label: str) -> tuple[int, int]:
    major, _, minor = label.partition(".")
    return int(major), int(minor)


def named_reviewers(version: DocumentVersion) -> list[VersionReviewer]:
    """The reviewers named for ``version`` (not withdrawn), in the order they were named."""
    return list(db.session.scalars(select(VersionReviewer).where(
        VersionReviewer.version_id == version.id, VersionReviewer.removed_at.is_(None))
        .order_by(VersionReviewer.id)))


def reviews_missing(version: DocumentVersion) -> int:
    """Reviews still needed: every named reviewer's, or else the required count."""
    done = reviewed_for(version)
    named = {r.user_id for r in named_reviewers(version)}
    if named:
        return len(named - done)
    return max(0, version.reviews_required - len(done))


def version_in_effect(document_id: int, at: datetime | None = None) -> DocumentVersion | None:
    """The version effective at ``at`` (None: now): the last to take effect by then, unless the
    document was made obsolete by then (a superseding version's ``effective_at`` is the moment
    its predecessor stopped being effective)."""
    if at is None:
        return db.session.scalar(select(DocumentVersion).where(
            DocumentVersion.effective_document_id == document_id))
    version = db.session.scalars(
        select(DocumentVersion).where(DocumentVersion.document_id == document_id,
                                      DocumentVersion.effective_at.is_not(None),
                                      DocumentVersion.effective_at <= at)
        .order_by(DocumentVersion.effective_at.desc(), DocumentVersion.id.desc()).limit(1)).first()
    if version is None or (version.obsoleted_at is not None and version.obsoleted_at <= at):
        return None
    return version


def versions_in_effect(document_ids: list[int]) -> dict[int, DocumentVersion]:
    if not document_ids:
        return {}
    rows = db.session.scalars(select(DocumentVersion).where(
        DocumentVersion.effective_document_id.in_(list(document_ids))))
    return {v.effective_document_id: v for v in rows}


def document_by(*, document_id: int | None = None, number: str | None = None,
                title: str | None = None) -> Document | None:
    """The document with this id, number or title (None if there is none, or it is no document);
    of several with the title, the effective one first, then the oldest."""
    found = None
    if document_id is not None:
        found = db.session.get(Document, document_id)
    elif number:
        found = db.session.scalar(select(Document).where(Document.number == number))
    elif title:
        found = db.session.scalars(select(Document).where(Document.title == title).order_by(
            (Document.state != "effective"), Document.id).limit(1)).first()
    return found if isinstance(found, Document) else None

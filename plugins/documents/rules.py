"""What the core's declarations cannot say about documents, for every path (service, admin,
API): a new version's place in its document (``prepare_new`` of the version type), a
document of external origin identified (ISO-05), distribution naming existing roles, and
reviewers named only on a draft and never its author (``validate_change``). Fixed, server-owned
and frozen fields are declared on the record types (plugin.py) and enforced by the core.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import Base, ValidationError, db, state_before_change
from plugins.documents import queries
from plugins.documents.models import (
    EXTERNAL_TYPE,
    Document,
    DocumentType,
    DocumentVersion,
    VersionReviewer,
)

EXTERNAL_FIELDS = {"source": "the issuing organisation",
                   "external_version": "the issuer's version",
                   "external_date": "the issuer's date"}


def prepare_new_version(version: DocumentVersion) -> None:
    """A new version belongs to a live document, in its scope, as its only version in progress;
    it supersedes the version in effect."""
    session = db.session
    with session.no_autoflush:
        document = session.get(Document, version.document_id) if version.document_id else None
        if document is None:
            raise ValidationError({"document_id": "Name an existing document."})
        if document.state in queries.retired_states():
            raise ValidationError({"document_id": f"{document.number} is {document.state}: it "
                                                  "gets no new versions."})
        if (version.study_id, version.site_id) != (document.study_id, document.site_id):
            raise ValidationError({"study_id": f"A version belongs to the study and site of "
                                               f"{document.number}."})
        busy = [v for v in queries.versions_in_progress(document.id) if v is not version]
        previous = queries.effective_version(document)
    if busy:
        raise ValidationError({"document_id": f"{document.number} already has a version in "
                                              f"progress ({busy[0].number}, {busy[0].state})."})
    version.supersedes_id = previous.id if previous is not None else None


def _document_problems(document: Document) -> list[tuple[str, str]]:
    doc_type = db.session.get(DocumentType, document.document_type_id) \
        if document.document_type_id else None
    if doc_type is not None and doc_type.code == EXTERNAL_TYPE:
        missing = [(name, f"Required for a document of external origin: {what}.")
                   for name, what in EXTERNAL_FIELDS.items()
                   if not str(getattr(document, name) or "").strip()]
        if missing:
            return missing
    value = document.distribution_roles or ""
    keys = [key.strip() for key in value.split(",")]
    if value and (",".join(keys) != value or not all(keys)):
        return [("distribution_roles", "Role keys separated by commas, without spaces: "
                 f"{','.join(k for k in keys if k)!r}.")]
    if value:
        roles = Base.metadata.tables["core_role"]
        known = set(db.session.scalars(select(roles.c.key).where(roles.c.key.in_(keys))))
        unknown = [key for key in keys if key not in known]
        if unknown:
            return [("distribution_roles",
                     f"No role with the key {', '.join(map(repr, unknown))}.")]
    return []


def _reviewer_problems(reviewer: VersionReviewer, new: bool) -> list[tuple[str, str]]:
    version = db.session.get(DocumentVersion, reviewer.version_id) if reviewer.version_id \
        else None
    if version is None:
        return [("version_id", "Name an existing document version.")]
    if state_before_change(version) != "draft":
        return [("reviewer", f"{version.number} is {version.state}: reviewers are named while "
                             "it is a draft.")]
    if new and reviewer.user_id == version.created_by_id:
        return [("reviewer", "The author of a version does not review it.")]
    return []


def change_problems(row: Any, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``validate_change`` answer of the documents plugin."""
    if isinstance(row, Document):
        return _document_problems(row)
    if isinstance(row, VersionReviewer):
        return _reviewer_problems(row, new=row.id is None)
    return []

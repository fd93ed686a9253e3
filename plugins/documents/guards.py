"""The session guard of the documents plugin: what no path (service, admin, API) may change.

Before every flush: a new version gets its server-owned fields and must be the document's only
one in progress; a version past review (approved, effective, superseded, obsolete) never
changes, files included; a version's document, label and predecessor, and a document's type,
are fixed at creation. Server-owned fields change only inside the plugin's own effects. A
document of external origin names its source, external version and date; its distribution
roles are existing role keys.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core import Base, ServiceScope, ValidationError, changed_fields, state_before_change
from plugins.documents.models import (
    EXTERNAL_TYPE,
    SERVER_OWNED_VERSION_FIELDS,
    Document,
    DocumentType,
    DocumentVersion,
    VersionReviewer,
)

FIXED_VERSION_FIELDS = ("document_id", "version_label", "supersedes_id")
# A version's content never changes from approval on (a frozen_states declaration to be).
FROZEN_VERSION_STATES = ("approved", "effective", "superseded", "obsolete")
service_scope = ServiceScope("documents")  # ``with service_scope():`` in own effects


def _check_new_version(session: Session, version: DocumentVersion) -> None:
    from plugins.documents import queries

    given = [n for n in SERVER_OWNED_VERSION_FIELDS
             if getattr(version, n) is not None and n != "supersedes_id"]
    if given and not service_scope.active:
        raise ValidationError({n: "Set by the server." for n in given})
    document = session.get(Document, version.document_id) if version.document_id else None
    if document is None:
        raise ValidationError({"document_id": "Name an existing document."})
    if document.state in queries.retired_states():
        raise ValidationError({"document_id": f"{document.number} is {document.state}: it gets "
                                              "no new versions."})
    if (version.study_id, version.site_id) != (document.study_id, document.site_id):
        raise ValidationError({"study_id": f"A version belongs to the study and site of "
                                           f"{document.number}."})
    with session.no_autoflush:
        busy = queries.versions_in_progress(document.id)
        previous = queries.effective_version(document)
    busy = [v for v in busy if v is not version]
    if busy:
        raise ValidationError({"document_id": f"{document.number} already has a version in "
                                              f"progress ({busy[0].number}, {busy[0].state})."})
    expected = previous.id if previous is not None else None
    if version.supersedes_id not in (None, expected):
        raise ValidationError({"supersedes_id": "Set by the server."})
    version.supersedes_id = expected


def _check_changed_version(version: DocumentVersion) -> None:
    changed = changed_fields(version)
    if not changed:
        return
    fixed = [n for n in changed if n in FIXED_VERSION_FIELDS]
    if fixed:
        raise ValidationError({n: "Fixed when the version was created." for n in fixed})
    owned = [n for n in changed if n in SERVER_OWNED_VERSION_FIELDS]
    if owned and not service_scope.active:
        raise ValidationError({n: "Set by the server." for n in owned})
    old = state_before_change(version)
    content = [n for n in changed if n not in SERVER_OWNED_VERSION_FIELDS]
    if old in FROZEN_VERSION_STATES and content:
        raise ValidationError({content[0]: f"{version.number} is {old}: an approved version "
                                           "never changes; revise the document instead."})


EXTERNAL_FIELDS = {"source": "the issuing organisation",
                   "external_version": "the issuer's version",
                   "external_date": "the issuer's date"}


def _check_document(session: Session, document: Document) -> None:
    """External origin identified (ISO-05); distribution names existing roles."""
    with session.no_autoflush:
        doc_type = session.get(DocumentType, document.document_type_id) \
            if document.document_type_id else None
        if doc_type is not None and doc_type.code == EXTERNAL_TYPE:
            missing = {name: f"Required for a document of external origin: {what}."
                       for name, what in EXTERNAL_FIELDS.items()
                       if not str(getattr(document, name) or "").strip()}
            if missing:
                raise ValidationError(missing)
        value = document.distribution_roles or ""
        keys = [key.strip() for key in value.split(",")]
        if value and (",".join(keys) != value or not all(keys)):
            raise ValidationError({"distribution_roles": "Role keys separated by commas, "
                                   f"without spaces: {','.join(k for k in keys if k)!r}."})
        if keys and value:
            roles = Base.metadata.tables["core_role"]
            known = set(session.scalars(select(roles.c.key).where(roles.c.key.in_(keys))))
            unknown = [key for key in keys if key not in known]
            if unknown:
                raise ValidationError({"distribution_roles": "No role with the key "
                                       f"{', '.join(map(repr, unknown))}."})


def _check_reviewer(session: Session, reviewer: VersionReviewer, new: bool) -> None:
    """Reviewers are named and withdrawn only while the version is a draft, never its author."""
    changed = changed_fields(reviewer)
    if not new and set(changed) - {"removed_at", "removed_by_id"}:
        raise ValidationError({changed[0]: "Fixed when the reviewer was named."})
    with session.no_autoflush:
        version = session.get(DocumentVersion, reviewer.version_id) if reviewer.version_id \
            else None
    if version is None:
        raise ValidationError({"version_id": "Name an existing document version."})
    if state_before_change(version) != "draft":
        raise ValidationError({"reviewer": f"{version.number} is {version.state}: reviewers "
                                           "are named while it is a draft."})
    if new and reviewer.user_id == version.created_by_id:
        raise ValidationError({"reviewer": "The author of a version does not review it."})


def _guard(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.new):
        if isinstance(obj, DocumentVersion):
            _check_new_version(session, obj)
        elif isinstance(obj, Document):
            _check_document(session, obj)
        elif isinstance(obj, VersionReviewer):
            _check_reviewer(session, obj, new=True)
    for obj in list(session.deleted):
        if isinstance(obj, VersionReviewer):
            raise ValidationError({"reviewer": "A named reviewer is withdrawn, not deleted."})
    for obj in list(session.dirty):
        if isinstance(obj, VersionReviewer):
            _check_reviewer(session, obj, new=False)
        elif isinstance(obj, DocumentVersion):
            _check_changed_version(obj)
        elif isinstance(obj, Document):
            changed = changed_fields(obj)
            if "document_type_id" in changed:
                raise ValidationError({"document_type_id": "Fixed when the document was "
                                       "created (its number carries the type's prefix)."})
            if changed:
                _check_document(session, obj)


def install() -> None:
    """Listen on every session (idempotent); only documents' own models are looked at."""
    if not event.contains(Session, "before_flush", _guard):
        event.listen(Session, "before_flush", _guard)

"""Numbers of documents (``SOP-0001``, gapless per type prefix) and versions (``SOP-0001-v1.0``)."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from core import ValidationError, db
from plugins.documents import queries
from plugins.documents.models import Document, DocumentType, DocumentVersion

LABEL = re.compile(r"^\d{1,3}\.\d{1,3}$")


def document_number(document: Document) -> str | None:
    """The next number of the document's type; None (the core's ``DOC`` counter) without one."""
    if not document.document_type_id:
        return None
    # One atomic UPDATE ... RETURNING: concurrent creators queue on the type's row lock, and a
    # rolled back creation gives its number back.
    row = db.session.execute(
        update(DocumentType).where(DocumentType.id == document.document_type_id)
        .values(last_number=DocumentType.last_number + 1)
        .returning(DocumentType.number_prefix, DocumentType.last_number)).first()
    if row is None:
        raise ValidationError({"document_type_id": "No such document type."})
    return f"{row.number_prefix}-{row.last_number:04d}"


def next_label(labels: list[str], major: bool) -> str:
    if not labels:
        return "1.0"
    high_major, high_minor = max(queries.parse_label(label) for label in labels)
    return f"{high_major + 1}.0" if major else f"{high_major}.{high_minor + 1}"


def version_number(version: DocumentVersion) -> str | None:
    """Assigns the version label (the next minor one unless given) and names the version."""
    document = db.session.get(Document, version.document_id) if version.document_id else None
    if document is None:
        return None  # the flush guard names the missing document
    labels = list(db.session.scalars(select(DocumentVersion.version_label).where(
        DocumentVersion.document_id == document.id)))
    label = (version.version_label or "").strip()
    if not label:
        label = next_label(labels, major=False)
    elif not LABEL.match(label):
        raise ValidationError({"version_label": "Use MAJOR.MINOR, e.g. 1.0 or 0.1."})
    elif labels and queries.parse_label(label) <= max(queries.parse_label(x) for x in labels):
        raise ValidationError({"version_label": f"Must be above {max(labels, key=queries.parse_label)}."})
    version.version_label = label
    return f"{document.number}-v{label}"

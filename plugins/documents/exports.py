"""Serving the point-of-use PDF of a version: access, rendering, audit, response.

Shared by the record page's POST (``documents.version_pdf``) and the JSON API
(``GET /api/v1/documents/versions/<id>/pdf``). Both need read access to the version in its
study/site; superseded and obsolete versions also need ``documents.view_history`` (ISO-04).
Every copy served is an ``export`` entry (field ``document_pdf``) in the version's trail.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from core import audit_export, content_disposition, db, has_permission, may_read
from plugins.documents.models import DocumentVersion
from plugins.documents.pdf import render_version_pdf

HISTORY_STATES = ("superseded", "obsolete")


def find_version(version_id: int) -> Any:
    return db.session.get(DocumentVersion, version_id)


def may_print(version: Any, user: Any) -> bool:
    if version is None or not may_read(version, user):
        return False
    if version.state in HISTORY_STATES:
        return has_permission(user, "documents.view_history", study=version.study,
                              site=version.site)
    return True


def version_pdf_response(version: Any, user: Any, copy: str) -> Response:
    """Render, audit (before sending: a copy that cannot be audited is not served), respond.
    A controlled copy is shown inline (viewed in the system), an uncontrolled one downloaded."""
    rendered = render_version_pdf(version, user, copy)
    number, record_version = version.number, version.version
    audit_export("document_pdf", version.audit_entity_type, version.id,
                 entity_version=record_version,
                 detail=f"point-of-use PDF ({copy} copy, watermark {rendered.watermark}) of "
                        f"{number} version {record_version}: {rendered.pages} pages, "
                        f"{len(rendered.data)} bytes, sha256 {rendered.sha256}")
    response = Response(rendered.data, mimetype="application/pdf")
    filename = f"{number}-{copy}.pdf".replace("/", "-")
    disposition = "inline" if copy == "controlled" else "attachment"
    response.headers["Content-Disposition"] = content_disposition(filename, disposition)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response

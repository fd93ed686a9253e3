"""Record exports as downloads: built, audited (with their SHA-256), then sent."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, current_app

from core.errors import CQMSError
from core.exports.audit import audit_export
from core.exports.bundle import CertifiedCopyRefused, build_certified_copy, safe_name
from core.records.models import Record
from core.web.files import download_response

PANGO = "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"


class ExportUnavailable(CQMSError):
    """The server cannot render PDFs (WeasyPrint cannot load Pango)."""


def _renderer() -> Any:
    try:
        from core.exports.pdf import render_record_pdf
    except OSError as exc:  # WeasyPrint raises OSError when the Pango libraries are missing
        current_app.logger.error("PDF export unavailable: %s", exc)
        raise ExportUnavailable("PDF export is unavailable on this server: install Pango "
                                f"(apt-get install {PANGO})") from None
    return render_record_pdf


def pdf_download(record: Record, user: Any) -> Response:
    """The record's PDF; the download is an ``export`` entry in the record's audit trail."""
    rendered = _renderer()(record, user)
    number, version = record.number, record.version
    digest = hashlib.sha256(rendered.data).hexdigest()
    audit_export("pdf", record.audit_entity_type, record.id, entity_version=version,
                 detail=f"PDF of {number} version {version}: {rendered.pages} pages, "
                        f"{len(rendered.data)} bytes, sha256 {digest}")
    return download_response(rendered.data, "application/pdf", f"{safe_name(number)}-v{version}.pdf")


def certified_copy_download(record: Record, user: Any) -> Response:
    """The record's certified-copy zip, audited; refused (and logged) when its data fails a
    check."""
    _renderer()
    try:
        copy = build_certified_copy(record, user)
    except CertifiedCopyRefused as exc:
        current_app.logger.error("certified copy refused: %s", exc)
        raise
    number, version = record.number, record.version
    audit_export("certified_copy", record.audit_entity_type, record.id, entity_version=version,
                 detail=f"certified copy of {number} version {version}: {copy.files} files, "
                        f"{len(copy.data)} bytes, sha256 {copy.sha256}")
    return download_response(copy.data, "application/zip", copy.filename)

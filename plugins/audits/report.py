"""The audit report as a PDF: scope, criteria, team, checklist answers, findings with their
classification and state, summary and conclusions, and the signatures (manifestations: name,
meaning, time). Audited with its SHA-256 before it is sent."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from flask import Response, render_template
from pypdf import PdfReader

from core import audit_export, download_response, render_html, signatures_of, utcnow
from plugins.audits import queries
from plugins.audits.models import AUDIT_TYPES, CLASSIFICATIONS, Audit


def report_pdf_response(audit: Audit, viewer: Any) -> Response:
    findings = queries.findings_of(audit)
    html = render_template(
        "audits/report_pdf.html", audit=audit, team=queries.team_of(audit),
        answers=queries.answers_of(audit), findings=findings,
        requests=queries.requests_of(audit), signatures=signatures_of(audit),
        types=dict(AUDIT_TYPES), classes=dict(CLASSIFICATIONS),
        printed_by=viewer.printed_name, printed_at=f"{utcnow():%Y-%m-%d %H:%M} UTC")
    data = render_html(html).write_pdf()
    pages = len(PdfReader(io.BytesIO(data)).pages)
    audit_export("audits_report_pdf", audit.audit_entity_type, audit.id,
                 entity_version=audit.version,
                 detail=(f"audit report of {audit.number}: {len(findings)} findings; {pages} "
                         f"pages, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"))
    return download_response(data, "application/pdf", f"{audit.number}-report.pdf")

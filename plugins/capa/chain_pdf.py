"""The chain of an event or CAPA as a PDF (ISO 9001 10.2.2, ISO 13485 8.5.2 records of the
nonconformity, the actions taken and their results): what the chain page shows, with who
printed it and when; audited with its SHA-256 before it is sent."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from flask import Response, render_template
from pypdf import PdfReader

from core import Record, audit_export, download_response, render_html, utcnow
from plugins.capa.chain import chain_of


def chain_pdf_response(record: Record, viewer: Any) -> Response:
    steps = chain_of(record, viewer)
    html = render_template("capa/chain_pdf.html", record=record, steps=steps,
                           printed_by=viewer.printed_name,
                           printed_at=f"{utcnow():%Y-%m-%d %H:%M} UTC")
    data = render_html(html).write_pdf()
    pages = len(PdfReader(io.BytesIO(data)).pages)
    audit_export("capa_chain_pdf", record.audit_entity_type, record.id,
                 entity_version=record.version,
                 detail=(f"chain of {record.number}: {len(steps)} steps; {pages} pages, "
                         f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"))
    return download_response(data, "application/pdf", f"{record.number}-chain.pdf")

"""The training matrix export (CSV or PDF) as a job: the whole filtered matrix is built in a
worker, acting as the person who asked for it (their current scope), audited with its SHA-256,
and kept for them to download under My exports."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict
from typing import Any

from core import JobFile, JobKind, audit_export, csv_safe, start_job, utcnow
from plugins.training.matrix import STATUSES, Filters, Matrix, build_matrix
from plugins.training.record_pdf import render_pdf, utc

EXPORT_JOB = "training.matrix_export"
FORMATS = {"csv": ("text/csv", "training-matrix.csv"),
           "pdf": ("application/pdf", "training-matrix.pdf")}
LABELS = {status: status.replace("_", " ") for status in STATUSES}


def matrix_csv(matrix: Matrix) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_safe(v) for v in ("username", "name", "compliant", "required",
                                           *(f"{r.code} {r.title}" for r in matrix.requirements))])
    for row in matrix.rows:
        compliant, required = row.compliance
        cells = []
        for requirement in matrix.requirements:
            cell = row.cells.get(requirement.id)
            cells.append(LABELS[cell.status] if cell is not None else "")
        writer.writerow([csv_safe(v) for v in (row.user.username, row.user.full_name, compliant,
                                               required, *cells)])
    return buffer.getvalue()


def start_matrix_export(user: Any, fmt: str, filters: Filters, described: str) -> Any:
    """Queue the export of the whole matrix under ``filters`` (``described`` for people: the
    filters as the user gave them); it starts once the caller commits."""
    who = "everyone in your scope" if described == "none" else f"filtered by {described}"
    label = f"Training matrix ({fmt.upper()}), {who}"
    return start_job(EXPORT_JOB, user, {"fmt": fmt, "filters": asdict(filters),
                                         "described": described}, label)


def run_matrix_export(job: Any, fmt: str, filters: dict[str, Any], described: str) -> JobFile:
    job.progress(0, 3, "Reading the matrix")
    matrix = build_matrix(job.user, Filters(**filters), limit=None)
    size = f"{len(matrix.rows)} people x {len(matrix.requirements)} requirements"
    job.progress(1, 3, f"Writing the {fmt.upper()} of {size}")
    if fmt == "csv":
        data = matrix_csv(matrix).encode()
        detail = f"Training matrix: {size}; filters: {described}"
    else:
        data = render_pdf("training/matrix_pdf.html", matrix=matrix, labels=LABELS,
                          filters=described, printed_by=job.user.printed_name,
                          printed_at=utc(utcnow()))
        detail = f"Training matrix PDF: {size}; filters: {described}; {len(data)} bytes"
    job.progress(2, 3, "Recording the export in the audit trail")
    audit_export(fmt, "training_assignment",
                 detail=f"{detail}; sha256 {hashlib.sha256(data).hexdigest()}")
    media_type, filename = FORMATS[fmt]
    return JobFile(filename, media_type, data)


MATRIX_EXPORT = JobKind(EXPORT_JOB, "Training matrix export", run_matrix_export)

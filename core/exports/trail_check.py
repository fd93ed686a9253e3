"""The whole audit trail checked from the audit page, as a job: the chains against every stored
checkpoint and this node's checkpoint file, then the reconcilers (rows and files against what
was audited), as ``cqms audit verify`` does. The user watches its progress under My exports and
keeps the report; the check itself is an ``audit.verified`` entry."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, select

from core.audit.checkpoints import checkpoint_file
from core.audit.models import AuditEntry
from core.audit.verify import Report, read_checkpoint_file, stored_checkpoints, verify
from core.db import db, utcnow
from core.exports.audit import audit_now
from core.specs import JobFile, JobKind

KEY = "core.audit_trail_check"
PERMISSION = "core.audit.verify"  # who may start it from the audit page


def report_text(report: Report, checkpoints: int) -> str:
    if report.ok:
        legacy = (f", {report.legacy_entries} from before the chain was keyed"
                  if report.legacy_entries else "")
        return (f"OK: {report.entries} entries on {len(report.heads)} chain(s) intact, checked "
                f"against {checkpoints} signed checkpoints{legacy}; every audited row and "
                "file matches its trail.")
    lines = [f"FAILED: {len(report.findings)} problem(s) in {report.entries} entries."]
    lines += [f"- {finding.line()}" for finding in report.findings]
    return "\n".join(lines)


def run_trail_check(job: Any) -> JobFile:
    connection = db.session.connection()
    points = list(stored_checkpoints(connection))
    automatic = checkpoint_file()
    if automatic is not None and automatic.is_file():
        points += read_checkpoint_file(automatic)
    total = db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    job.progress(0, total, "Checking the audit trail")
    report = verify(connection, points, current_app.extensions["cqms"].reconcilers,
                    progress=lambda done: job.progress(done, total, "Checking the audit trail"))
    text = report_text(report, len(points))
    first_line = text.splitlines()[0]
    audit_now("audit.verified", "core_audit_entry", "", new=first_line[:4000])
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return JobFile(f"audit-trail-check-{stamp}.txt", "text/plain; charset=utf-8",
                   (text + "\n").encode())


TRAIL_CHECK = JobKind(KEY, "Audit trail check", run_trail_check)

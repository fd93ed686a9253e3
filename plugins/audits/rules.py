"""What the declarations cannot say about audits, on every path: values come from the lists
offered, a finding belongs to an audit in its fieldwork, templates hold questions
(``validate_change`` and ``prepare_new``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import ConflictError, ValidationError, db, get_setting, utcnow
from plugins.audits.models import (
    AUDIT_TYPES,
    CLASSIFICATIONS,
    Audit,
    AuditProgramme,
    ChecklistTemplate,
    Finding,
)


def prepare_new_finding(finding: Finding) -> None:
    with db.session.no_autoflush:
        audit = db.session.get(Audit, finding.audit_id) if finding.audit_id else None
    if audit is None:
        raise ValidationError({"audit_id": "Name the audit the finding belongs to."})
    if audit.state not in ("in_progress", "reporting"):
        raise ConflictError(f"{audit.number} is not in its fieldwork or reporting: findings are "
                            "raised while it is audited")
    if finding.response_due is None:
        finding.response_due = utcnow().date() + timedelta(
            days=get_setting("audits.finding_response_days"))


def _choice(value: Any, pairs: tuple[tuple[str, str], ...], field: str) -> list[tuple[str, str]]:
    if value in dict(pairs):
        return []
    return [(field, "Choose one of: " + ", ".join(label for _, label in pairs) + ".")]


def change_problems(row: Any, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``validate_change`` answer of the audits plugin."""
    if isinstance(row, Audit) and "audit_type" in changes:
        return _choice(row.audit_type, AUDIT_TYPES, "audit_type")
    if isinstance(row, Finding) and "classification" in changes:
        return _choice(row.classification, CLASSIFICATIONS, "classification")
    if isinstance(row, AuditProgramme) and row.period_start and row.period_end and \
            row.period_end < row.period_start:
        return [("period_end", "The period must end on or after the day it starts.")]
    if isinstance(row, ChecklistTemplate) and row.id is None:
        if not row.question_lines:
            return [("questions", "Write the questions, one per line (question | evidence "
                                  "expected).")]
        if not (row.key or "").replace("_", "").isalnum() or row.key != row.key.lower():
            return [("key", "Lower-case letters, digits and _ (site_gcp).")]
    return []

"""Reads of the audits plugin: a programme's planned audits, an audit's team, answers,
requests and findings, what was raised for a finding, and an auditee's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core import Record, User, category_of, db, links_of, scope_clause, states_in
from plugins.audits.models import (
    AUDITED,
    AUDITING,
    Audit,
    AuditProgramme,
    ChecklistAnswer,
    ChecklistTemplate,
    Finding,
    InspectionRequest,
    PlannedAudit,
    TeamMember,
)


def _rows(model: type, record: Record) -> list[Any]:
    return list(db.session.scalars(select(model).where(model.record_id == record.id)
                                   .order_by(model.id)))


def planned_audits(programme: AuditProgramme) -> list[PlannedAudit]:
    return _rows(PlannedAudit, programme)


def team_of(audit: Audit) -> list[TeamMember]:
    return _rows(TeamMember, audit)


def answers_of(audit: Audit) -> list[ChecklistAnswer]:
    return list(db.session.scalars(select(ChecklistAnswer).where(
        ChecklistAnswer.record_id == audit.id).order_by(ChecklistAnswer.position)))


def requests_of(audit: Audit) -> list[InspectionRequest]:
    return _rows(InspectionRequest, audit)


def findings_of(audit: Audit) -> list[Finding]:
    return list(db.session.scalars(select(Finding).where(Finding.audit_id == audit.id)
                                   .order_by(Finding.id)))


def conflicted(audit: Audit) -> list[User]:
    """People on the audit both as an auditor and as an auditee or owner of the process."""
    team = team_of(audit)
    auditing = {m.user_id for m in team if m.role in AUDITING}
    audited = {m.user_id for m in team if m.role in AUDITED}
    return [m.user for m in team if m.role in AUDITING and m.user_id in auditing & audited]


def linked_into(finding: Finding) -> list[Record]:
    """Records linked to the finding from elsewhere (CAPAs and events raised for it)."""
    return [link.source for link in links_of(finding) if link.target_id == finding.id]


def templates() -> list[ChecklistTemplate]:
    return list(db.session.scalars(select(ChecklistTemplate).where(
        ChecklistTemplate.active.is_(True)).order_by(ChecklistTemplate.key,
                                                     ChecklistTemplate.version)))


def auditee_history(auditee: str, viewer: Any, exclude: int | None = None) -> dict[str, Any]:
    """Earlier audits of an auditee (same name; done or under way, in the viewer's scope) and
    their findings still open: what a planner weighs (ISO-12)."""
    name = (auditee or "").strip()
    if not name:
        return {"audits": 0, "open_findings": 0, "last": None}
    seen = scope_clause(viewer, "audits.view", Record.study_id, Record.site_id)
    audits = list(db.session.scalars(select(Audit).where(
        func.lower(Audit.auditee) == name.lower(), seen, Audit.id != (exclude or 0),
        Record.state.in_(states_in("audits_audit", "open", "closed")))
        .order_by(Audit.planned_date.desc())))
    open_states = states_in("audits_finding", "draft", "open")
    audit_table = Audit.__table__  # the audit's own columns: Record's are the finding's
    open_findings = db.session.scalar(select(func.count()).select_from(Finding).join(
        audit_table, audit_table.c.id == Finding.audit_id).where(
        func.lower(audit_table.c.auditee) == name.lower(), Record.state.in_(open_states),
        audit_table.c.id != (exclude or 0), seen)) or 0
    return {"audits": len(audits), "open_findings": open_findings,
            "last": audits[0] if audits else None}


def open_category(record: Record) -> bool:
    return category_of(record) in ("draft", "open")

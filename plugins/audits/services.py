"""What auditors and planners do besides editing fields and taking transitions: plan audits in a
programme and schedule them, name the team, load and answer a checklist, log an inspector's
requests, raise findings, and raise a CAPA for a finding through the CAPA plugin's hook. Each
call flushes; the caller commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from core import (
    ConflictError,
    PermissionDenied,
    Record,
    User,
    ValidationError,
    audit_reason,
    call_hook,
    create_record,
    db,
    hook_implemented,
    may_act_in,
    server_write,
    utcnow,
)
from plugins.audits import queries
from plugins.audits.models import (
    ANSWERS,
    AUDIT_TYPES,
    RISKS,
    TEAM_ROLES,
    Audit,
    AuditProgramme,
    ChecklistAnswer,
    ChecklistTemplate,
    Finding,
    InspectionRequest,
    PlannedAudit,
    TeamMember,
)

PLAN, CONDUCT = "audits.plan", "audits.conduct"
MAX_TEXT = 4000
FIELDWORK = ("in_progress", "reporting")  # findings may still be raised while reporting


def _may(record: Record, user: User, permission: str) -> None:
    if not may_act_in(user, permission, record.study, record.site):
        raise PermissionDenied(f"{user.username} may not do this on {record.number}")


def _text(value: Any, field: str, what: str, *, limit: int = MAX_TEXT) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError({field: f"{what} is required."})
    if len(text) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    return text


# -- programme ----------------------------------------------------------------------------------


def plan_text(rows: list[PlannedAudit]) -> str:
    return "\n".join(f"{n}. {r.planned_date.isoformat()} {r.type_words}: {r.auditee} (risk "
                     f"{r.risk}; {r.rationale}; auditor {r.lead_name})"
                     for n, r in enumerate(rows, 1))


def plan_audit(programme: AuditProgramme, user: User, *, audit_type: str, auditee: str,
               risk: str, rationale: str, planned_date: date | None,
               lead: User | None = None) -> PlannedAudit:
    """Add an audit to a programme in draft (the approval signs the plan)."""
    _may(programme, user, PLAN)
    if programme.state != "draft":
        raise ConflictError(f"{programme.number} is approved: revise it to plan another audit")
    problems = {}
    if audit_type not in dict(AUDIT_TYPES):
        problems["audit_type"] = "Choose the kind of audit."
    if risk not in dict(RISKS):
        problems["risk"] = "Choose high, medium or low."
    if planned_date is None:
        problems["planned_date"] = "Give the planned date."
    if lead is not None and (not lead.active or lead.is_service or not may_act_in(
            lead, CONDUCT, programme.study, programme.site)):
        problems["lead_id"] = f"{lead.printed_name} may not conduct audits here."
    if problems:
        raise ValidationError(problems)
    row = PlannedAudit(record_id=programme.id, audit_type=audit_type, risk=risk,
                       auditee=_text(auditee, "auditee", "The auditee", limit=200),
                       rationale=_text(rationale, "rationale", "The rationale"),
                       planned_date=planned_date, lead_id=lead.id if lead else None,
                       created_by_id=user.id)
    with audit_reason(f"Audit planned in {programme.number}"):
        db.session.add(row)
        db.session.flush()
        with server_write("audits_programme"):
            programme.plan = plan_text(queries.planned_audits(programme))
            db.session.flush()
    return row


def schedule(row: PlannedAudit, user: User) -> Audit:
    """The audit a planned one becomes (the programme approved), in the programme's scope."""
    programme = db.session.get(AuditProgramme, row.record_id)
    if programme.state != "approved":
        raise ConflictError(f"{programme.number} is not approved: audits are scheduled from an "
                            "approved programme")
    if row.audit_id is not None:
        raise ConflictError(f"this planned audit is scheduled already ({_number(row.audit_id)})")
    audit = create_record("audits_audit", user, reason=f"Scheduled from {programme.number}",
                          title=f"{dict(AUDIT_TYPES)[row.audit_type]} audit: {row.auditee}"[:300],
                          audit_type=row.audit_type, auditee=row.auditee,
                          planned_date=row.planned_date, study_id=programme.study_id,
                          site_id=programme.site_id)
    with audit_reason(f"Scheduled as {audit.number}"):
        row.audit_id = audit.id
        db.session.flush()
    if row.lead is not None:
        add_member(audit, user, row.lead, "lead")
    return audit


def _number(record_id: int | None) -> str:
    record = Record.by_id(record_id) if record_id else None
    return record.number if record is not None else "-"


# -- audit --------------------------------------------------------------------------------------


def add_member(audit: Audit, user: User, person: User | None, role: str) -> TeamMember:
    _may(audit, user, PLAN)
    if audit.state != "planned":
        raise ConflictError(f"{audit.number} has started: the team is set before it starts")
    if role not in dict(TEAM_ROLES):
        raise ValidationError({"role": "Choose lead auditor, auditor, auditee or owner of the "
                                       "audited process."})
    if person is None or not person.active or person.is_service:
        raise ValidationError({"user_id": "Name an active person."})
    if any(m.user_id == person.id and m.role == role for m in queries.team_of(audit)):
        raise ConflictError(f"{person.printed_name} is already on {audit.number} in that role")
    if role == "lead" and any(m.role == "lead" for m in queries.team_of(audit)):
        raise ConflictError(f"{audit.number} has a lead auditor already")
    member = TeamMember(record_id=audit.id, user_id=person.id, role=role,
                        created_by_id=user.id)
    with audit_reason(f"Team of {audit.number}"):
        db.session.add(member)
        db.session.flush()
    return member


def load_checklist(audit: Audit, user: User, template: ChecklistTemplate | None) -> int:
    """Copy the questions of a template version into the audit (once, before it starts)."""
    _may(audit, user, PLAN)
    if template is None or not template.active:
        raise ValidationError({"template": "Choose an active checklist template."})
    if audit.state != "planned":
        raise ConflictError(f"{audit.number} has started: its checklist is set before")
    if queries.answers_of(audit):
        raise ConflictError(f"{audit.number} has a checklist already")
    with audit_reason(f"Checklist {template.key} v{template.version} loaded"):
        for position, (question, evidence) in enumerate(template.question_lines, 1):
            db.session.add(ChecklistAnswer(record_id=audit.id, position=position,
                                           question=question, expected_evidence=evidence,
                                           created_by_id=user.id))
        with server_write("audits_audit"):
            audit.checklist_id = template.id
            db.session.flush()
    return len(template.question_lines)


def _fieldwork(audit: Audit, user: User, states: tuple[str, ...] = ("in_progress",)) -> None:
    """Answers and requests while the audit is in progress (fixed once it is finished)."""
    _may(audit, user, CONDUCT)
    if audit.state not in states:
        raise ConflictError(f"{audit.number} is not in progress")


def answer(row: ChecklistAnswer, user: User, value: str, note: str) -> ChecklistAnswer:
    audit = db.session.get(Audit, row.record_id)
    _fieldwork(audit, user)
    if value not in dict(ANSWERS) or not value:
        raise ValidationError({"answer": "Conforms, finding or not applicable."})
    if len(note or "") > MAX_TEXT:
        raise ValidationError({"note": f"At most {MAX_TEXT} characters."})
    with audit_reason(f"Checklist of {audit.number}, question {row.position}"):
        row.answer, row.note = value, (note or "").strip()
        db.session.flush()
    return row


def raise_finding(audit: Audit, user: User, *, classification: str, title: str,
                  evidence: str, requirement_ref: str = "",
                  answer_row: ChecklistAnswer | None = None) -> Finding:
    """A finding of the audit (from a checklist answer when given), in its study and site."""
    _fieldwork(audit, user, FIELDWORK)
    if answer_row is not None and answer_row.finding_id is not None:
        raise ConflictError(f"question {answer_row.position} has its finding already")
    finding = create_record(
        "audits_finding", user, reason=f"Finding of {audit.number}", title=title,
        audit_id=audit.id, classification=classification, evidence=evidence,
        requirement_ref=requirement_ref)
    if answer_row is not None:
        with audit_reason(f"Finding {finding.number} raised"):
            answer_row.answer, answer_row.finding_id = "finding", finding.id
            db.session.flush()
    return finding


def log_request(audit: Audit, user: User, text: str) -> InspectionRequest:
    _fieldwork(audit, user)
    if audit.audit_type != "regulatory_inspection":
        raise ConflictError(f"{audit.number} is not a hosted inspection")
    row = InspectionRequest(record_id=audit.id, request=_text(text, "request", "The request"),
                            created_by_id=user.id)
    with audit_reason(f"Inspector request during {audit.number}"):
        db.session.add(row)
        db.session.flush()
    return row


def provide(row: InspectionRequest, user: User, text: str) -> InspectionRequest:
    audit = db.session.get(Audit, row.record_id)
    _fieldwork(audit, user)
    if row.provided_at is not None:
        raise ConflictError("This request was answered already")
    with audit_reason(f"Provided to the inspector during {audit.number}"):
        row.provided = _text(text, "provided", "What was provided")
        row.provided_at, row.provided_by_id = utcnow(), user.id
        db.session.flush()
    return row


# -- finding ------------------------------------------------------------------------------------


def capa_available() -> bool:
    return hook_implemented("capa_raise_for")


def raise_capa(finding: Finding, user: User) -> Record:
    """A CAPA addressing the finding (critical and major) or a quality event (minor and
    observations), through the CAPA plugin's hook; refused when it is not enabled."""
    if not capa_available():
        raise ConflictError("The CAPA plugin is not enabled: record the proposed actions on the "
                            "finding instead")
    if finding.state != "open":
        raise ConflictError(f"{finding.number} has its response already")
    what = "capa" if finding.classification in ("critical", "major") else "event"
    return call_hook("capa_raise_for", record=finding, category="audit_finding", user=user,
                     title=f"{finding.number}: {finding.title}"[:300],
                     description=finding.evidence or finding.title,
                     significant=finding.classification == "critical", what=what)

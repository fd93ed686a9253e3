"""Guards of the programme, audit and finding workflows: ``(record, user) -> reasons to
refuse``, in words a QA manager reads on the record page."""

from __future__ import annotations

from typing import Any

from core import category_of, signatures_of
from plugins.audits import queries
from plugins.audits.models import Audit, AuditProgramme, Finding

# -- programme ----------------------------------------------------------------------------------


def audits_planned(programme: AuditProgramme, _user: Any) -> list[str]:
    reasons = []
    if programme.period_start is None or programme.period_end is None:
        reasons.append("give the programme's period")
    if not queries.planned_audits(programme):
        reasons.append("plan at least one audit")
    return reasons


# -- audit --------------------------------------------------------------------------------------


def team_named(audit: Audit, _user: Any) -> list[str]:
    reasons = []
    roles = [m.role for m in queries.team_of(audit)]
    if "lead" not in roles:
        reasons.append("name the lead auditor (Team)")
    if not audit.scope_text.strip() or not audit.criteria.strip():
        reasons.append("state the scope and the criteria")
    return reasons


def no_conflict(audit: Audit, _user: Any) -> list[str]:
    """Auditors do not audit their own work (ISO 19011 objectivity)."""
    conflicted = queries.conflicted(audit)
    if not conflicted:
        return []
    names = ", ".join(u.printed_name for u in conflicted)
    return [f"{names} would audit their own work: record the justification and have QA sign "
            "'Start with a justified auditor'"]


def conflict_justified(audit: Audit, _user: Any) -> list[str]:
    if not queries.conflicted(audit):
        return ["no auditor is also audited: use 'Start the audit'"]
    return [] if audit.objectivity_justification.strip() else [
        "write why the conflicted auditor may still audit (Objectivity justification)"]


def checklist_answered(audit: Audit, _user: Any) -> list[str]:
    answers = queries.answers_of(audit)
    if not answers:
        return ["load a checklist and answer it"]
    left = [a for a in answers if not a.answer]
    if left:
        return [f"{len(left)} checklist question(s) not answered"]
    unraised = [a for a in answers if a.answer == "finding" and a.finding_id is None]
    return [f"{len(unraised)} answer(s) marked 'finding' without a finding raised"] \
        if unraised else []


def report_written(audit: Audit, _user: Any) -> list[str]:
    return [] if audit.summary.strip() and audit.conclusions.strip() else [
        "write the report's summary and conclusions"]


def report_signed(audit: Audit, _user: Any) -> list[str]:
    """The report approval still stands (a report changed after it invalidates it)."""
    if any(s.transition == "approve_report" for s in signatures_of(audit, valid_only=True)):
        return []
    return ["the report changed after its approval: revise the report and have it approved "
            "again"]


def findings_closed(audit: Audit, _user: Any) -> list[str]:
    left = [f for f in queries.findings_of(audit) if category_of(f) in ("draft", "open")]
    return [f"findings still open: {', '.join(f.number for f in left)}"] if left else []


def not_on_the_team(audit: Audit, user: Any) -> list[str]:
    """The report is approved by someone outside the audit team."""
    if any(m.user_id == user.id for m in queries.team_of(audit)):
        return [f"{user.printed_name} is on the team of {audit.number}: someone outside it "
                "approves the report"]
    return []


# -- finding ------------------------------------------------------------------------------------


def response_given(finding: Finding, _user: Any) -> list[str]:
    reasons = []
    if not finding.response.strip():
        reasons.append("record the auditee's response")
    if not finding.proposed_actions.strip() and not queries.linked_into(finding):
        reasons.append("record the proposed actions, or raise a CAPA")
    return reasons


def actions_closed(finding: Finding, _user: Any) -> list[str]:
    """Everything raised for the finding (CAPAs, events) is closed first."""
    left = [r for r in queries.linked_into(finding) if category_of(r) in ("draft", "open")]
    return [f"still open: {', '.join(r.number for r in left)}"] if left else []


def verification_given(finding: Finding, _user: Any) -> list[str]:
    return [] if finding.verification.strip() else [
        "record how the actions were verified (field Verification)"]

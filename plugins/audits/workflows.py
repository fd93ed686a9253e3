"""The audit programme, audit and finding workflows.

Programme: draft -> approved (signed) -> closed; revised back to draft with a reason.
Audit: planned -> in progress (started; a conflicted auditor needs QA's signed justification)
-> reporting (checklist answered, findings raised) -> report approved (signed, by someone outside
the team) -> closed (every finding closed); cancelled while planned.
Finding: open -> responded (the auditee's response and actions, or a CAPA raised) -> closed
(verified and signed, once everything raised for it is closed); withdrawn with a reason.
"""

from __future__ import annotations

from core import Transition, Workflow
from plugins.audits import checks, effects

VIEW, PLAN, CONDUCT, APPROVE = ("audits.view", "audits.plan", "audits.conduct",
                                "audits.approve_report")
PROGRAMME, AUDIT, FINDING = "audits_programme", "audits_audit", "audits_finding"
REPORT = ("summary", "conclusions", "distribution")
VERIFICATION = ("classification", "requirement_ref", "evidence", "response", "proposed_actions",
                "verification")

PROGRAMME_TRANSITIONS = (
    Transition("approve", ("draft",), "approved", APPROVE, "Approve the programme",
               signature="approved", guards=(checks.audits_planned,)),
    Transition("revise", ("approved",), "draft", PLAN, "Revise the programme",
               reason_required=True),
    Transition("close", ("approved",), "closed", PLAN, "Close the programme",
               reason_required=True),
)
AUDIT_TRANSITIONS = (
    Transition("start", ("planned",), "in_progress", CONDUCT, "Start the audit",
               guards=(checks.team_named, checks.no_conflict), effects=(effects.started,)),
    Transition("start_justified", ("planned",), "in_progress", APPROVE,
               "Start with a justified auditor", signature="approved",
               signs=("objectivity_justification",),
               guards=(checks.team_named, checks.conflict_justified),
               effects=(effects.started,)),
    Transition("finish", ("in_progress",), "reporting", CONDUCT, "Finish the fieldwork",
               guards=(checks.checklist_answered,), effects=(effects.ended,)),
    Transition("approve_report", ("reporting",), "report_approved", APPROVE,
               "Approve the report", signature="approved", signs=REPORT,
               guards=(checks.report_written, checks.not_on_the_team)),
    Transition("revise_report", ("report_approved",), "reporting", PLAN, "Revise the report",
               reason_required=True),
    Transition("close", ("report_approved",), "closed", PLAN, "Close the audit",
               guards=(checks.report_signed, checks.findings_closed)),
    Transition("cancel", ("planned",), "cancelled", PLAN, "Cancel", reason_required=True),
)
FINDING_TRANSITIONS = (
    Transition("respond", ("open",), "responded", CONDUCT, "Record the response",
               guards=(checks.response_given,), effects=(effects.responded,)),
    Transition("verify_and_close", ("responded",), "closed", CONDUCT,
               "Verify and close", signature="verified", signs=VERIFICATION,
               guards=(checks.actions_closed, checks.verification_given),
               effects=(effects.verified,)),
    Transition("withdraw", ("open", "responded"), "withdrawn", PLAN, "Withdraw",
               reason_required=True),
)

WORKFLOWS = [
    Workflow(PROGRAMME, ("draft", "approved", "closed"), "draft", PROGRAMME_TRANSITIONS,
             categories={"draft": "draft", "approved": "open", "closed": "closed"}),
    Workflow(AUDIT, ("planned", "in_progress", "reporting", "report_approved", "closed",
                     "cancelled"), "planned", AUDIT_TRANSITIONS,
             categories={"planned": "draft", "in_progress": "open", "reporting": "open",
                         "report_approved": "open", "closed": "closed",
                         "cancelled": "cancelled"}),
    Workflow(FINDING, ("open", "responded", "closed", "withdrawn"), "open",
             FINDING_TRANSITIONS,
             categories={"open": "open", "responded": "open", "closed": "closed",
                         "withdrawn": "cancelled"}),
]

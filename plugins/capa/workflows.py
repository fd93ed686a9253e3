"""The quality event and CAPA workflows: states, transitions, guards and effects.

Event: reported -> contained (containment, before any investigation) -> investigating ->
investigated (signed by the investigator) -> closed (signed adequacy confirmation); a
non-significant event may close after containment alone, with a reason; cancelled when entered in
error. CAPA: planning -> impact verified (signed) -> implementation (plan approved, signed) ->
effectiveness check -> effective (signed by someone who owns no action) -> closed (signed); not
effective sends it back to planning or replaces it by a follow-up CAPA; a CAPA whose category
needs no check may close after implementation with a signed rationale.
"""

from __future__ import annotations

from core import Transition, Workflow
from plugins.capa import checks, effects

EVENT = "capa_event"
CAPA = "capa_capa"
VIEW, CREATE, APPROVE, CLOSE = "capa.view", "capa.create", "capa.approve", "capa.close"
# What each stage's signature vouches for: later stages fill in other fields without
# invalidating it (Transition.signs).
INVESTIGATION = ("category", "importance", "description", "occurred_on", "process_area",
                 "severity", "significant", "serious", "containment", "similar_review",
                 "rca_method", "root_cause_key", "root_cause", "capa_needed", "no_capa_rationale")
PLAN = ("category", "problem_statement", "priority", "due_date", "action_plan",
        "impact_assessment")
CHECK = (*PLAN, "check_criteria", "check_due_date", "check_result")

EVENT_TRANSITIONS = (
    Transition("contain", ("reported",), "contained", CREATE, "Record containment",
               guards=(checks.containment_given,), effects=(effects.contained,)),
    Transition("investigate", ("reported", "contained"), "investigating", CREATE,
               "Start the investigation"),
    Transition("complete_investigation", ("investigating",), "investigated", CREATE,
               "Complete the investigation", signature="responsible", signs=INVESTIGATION,
               guards=(checks.similar_reviewed, checks.root_cause_given,
                       checks.capa_decision_given)),
    Transition("close", ("investigated",), "closed", CLOSE, "Confirm adequacy and close",
               signature="adequacy_confirmed", not_by=("created_by_id",),
               guards=(checks.capas_raised, checks.notification_settled)),
    Transition("close_after_containment", ("contained",), "closed", CLOSE,
               "Close after containment", signature="approved", reason_required=True,
               not_by=("created_by_id",),
               guards=(checks.not_significant, checks.similar_reviewed,
                       checks.notification_settled)),
    Transition("cancel", ("reported", "contained", "investigating"), "cancelled", CLOSE,
               "Cancel (entered in error)", reason_required=True),
    # A closed event is corrected, never edited (E6-18): re-opened with a reason, changed with
    # reasons, and closed again by a signed approval of someone other than its reporter.
    Transition("correct", ("closed",), "correcting", CLOSE, "Correct (re-open with a reason)",
               reason_required=True, correction=True),
    Transition("approve_correction", ("correcting",), "closed", CLOSE,
               "Approve the correction and close", signature="approved",
               not_by=("created_by_id",),
               guards=(checks.capas_raised, checks.notification_settled)),
)

CAPA_TRANSITIONS = (
    Transition("verify_impact", ("planning",), "impact_verified", CREATE,
               "Verify impact on compliance and safety", signature="verified", signs=PLAN,
               guards=(checks.plan_complete, checks.impact_given)),
    Transition("revise_plan", ("impact_verified",), "planning", CREATE, "Revise the plan",
               reason_required=True),
    Transition("approve_plan", ("impact_verified",), "implementation", APPROVE,
               "Approve the plan", signature="approved", signs=PLAN, not_by=("owner_id",),
               guards=(checks.plan_complete,)),
    Transition("start_check", ("implementation",), "effectiveness_check", CREATE,
               "Start the effectiveness check",
               guards=(checks.actions_completed, checks.check_planned),
               effects=(effects.check_started,)),
    Transition("close_without_check", ("implementation",), "closed", CLOSE,
               "Close without an effectiveness check", signature="approved",
               reason_required=True,
               guards=(checks.actions_completed, checks.check_not_required,
                       checks.changes_resolved),
               effects=(effects.capa_closed,)),
    Transition("confirm_effective", ("effectiveness_check",), "effective", APPROVE,
               "Effective", signature="verified", signs=CHECK,
               guards=(checks.check_result_given, checks.not_an_action_owner),
               effects=(effects.found_effective,)),
    Transition("reopen", ("effectiveness_check",), "planning", APPROVE,
               "Not effective: back to planning", signature="verified", signs=CHECK,
               reason_required=True,
               guards=(checks.check_result_given, checks.not_an_action_owner),
               effects=(effects.found_not_effective,)),
    Transition("replace", ("effectiveness_check",), "superseded", APPROVE,
               "Not effective: replace by a new CAPA", signature="verified", signs=CHECK,
               reason_required=True,
               guards=(checks.check_result_given, checks.not_an_action_owner),
               effects=(effects.found_not_effective, effects.follow_up_raised)),
    Transition("close", ("effective",), "closed", CLOSE, "Close", signature="approved",
               guards=(checks.changes_resolved,), effects=(effects.capa_closed,)),
    Transition("cancel", ("planning", "impact_verified"), "cancelled", CLOSE, "Cancel",
               reason_required=True),
)

WORKFLOWS = [
    Workflow(EVENT, ("reported", "contained", "investigating", "investigated", "closed",
                     "correcting", "cancelled"), "reported", EVENT_TRANSITIONS,
             categories={"reported": "open", "contained": "open", "investigating": "open",
                         "investigated": "open", "closed": "closed", "correcting": "open",
                         "cancelled": "cancelled"}),
    Workflow(CAPA, ("planning", "impact_verified", "implementation", "effectiveness_check",
                    "effective", "closed", "superseded", "cancelled"), "planning",
             CAPA_TRANSITIONS,
             categories={"planning": "draft", "impact_verified": "open",
                         "implementation": "open", "effectiveness_check": "open",
                         "effective": "open", "closed": "closed", "superseded": "closed",
                         "cancelled": "cancelled"}),
]

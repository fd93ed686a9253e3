"""The curriculum and training assignment workflows: states, transitions, guards and effects.

Curriculum: draft -> active (approve, signed) -> draft (revise) ...; draft/active -> retired.
Assignment: assigned -> completed (complete: the trainee's own read-and-understood signature;
record_completion: a trainer's verified signature with attendance), waived (signed by a manager)
or cancelled; a replaced assignment becomes superseded (automatic). carry_over (automatic)
completes an assignment whose document version needs no new training, from the previous one.
"""

from __future__ import annotations

from datetime import date

from core import (
    Role,
    Transition,
    Workflow,
    add_months,
    current_reason,
    db,
    get_setting,
    system_user,
    transition,
    utcnow,
)
from plugins.training import queries
from plugins.training.models import SELF_COMPLETED, TRAINER_RECORDED, TrainingAssignment

CURRICULUM = "training_curriculum"
ASSIGNMENT = "training_assignment"


# -- curriculum guards --------------------------------------------------------------------------


def requirements_usable(curriculum, _user) -> list[str]:  # type: ignore[no-untyped-def]
    """Every listed code names an active requirement; none is an obsolete document (ISO-06)."""
    codes = curriculum.codes
    if not codes:
        return [f"{curriculum.number} lists no requirements"]
    found = {r.code: r for r in queries.requirements_by_code(codes)}
    reasons = [f"no active requirement {code!r}" for code in codes
               if code not in found or not found[code].active]
    reasons += [f"{r.code}: {problem}" for r in found.values()
                if (problem := queries.document_problem(r))]
    return reasons


def role_exists(curriculum, _user) -> list[str]:  # type: ignore[no-untyped-def]
    return [] if Role.by_key(curriculum.role_key) else [
        f"no role {curriculum.role_key!r}"]


# -- assignment guards --------------------------------------------------------------------------


def trainee_only(assignment: TrainingAssignment, user) -> list[str]:  # type: ignore[no-untyped-def]
    """Only the trainee signs their own read-and-understood: no delegation."""
    return [] if assignment.trainee_id == user.id else [
        f"only {assignment.trainee.printed_name} may sign {assignment.number}"]


def self_completed(assignment: TrainingAssignment, _user) -> list[str]:  # type: ignore[no-untyped-def]
    kind = assignment.requirement.kind
    return [] if kind in SELF_COMPLETED else [
        f"{kind.replace('_', '-')} training is recorded by a trainer (record completion)"]


def trainer_recorded(assignment: TrainingAssignment, _user) -> list[str]:  # type: ignore[no-untyped-def]
    kind = assignment.requirement.kind
    return [] if kind in TRAINER_RECORDED else [
        f"{kind} training is completed by the trainee's own signature"]


def quiz_passed(assignment: TrainingAssignment, _user) -> list[str]:  # type: ignore[no-untyped-def]
    if not queries.questions_of(assignment.requirement):
        return []
    if queries.passed_attempt(assignment) is not None:
        return []
    return [f"pass the quiz of {assignment.requirement.code} first "
            f"(pass mark {assignment.requirement.pass_mark}%)"]


def version_still_in_effect(assignment: TrainingAssignment, _user) -> list[str]:  # type: ignore[no-untyped-def]
    """Read-and-understood is signed for the version in effect, not one replaced meanwhile."""
    if assignment.document_version_id is None:
        return []
    current = queries.version_in_effect(assignment.requirement.document_id)
    if current is not None and current.id == assignment.document_version_id:
        return []
    return [f"version {assignment.version_label} is no longer the effective one"]


def has_predecessor(assignment: TrainingAssignment, _user) -> list[str]:  # type: ignore[no-untyped-def]
    earlier = (db.session.get(TrainingAssignment, assignment.carried_over_from_id)
               if assignment.carried_over_from_id else None)
    if earlier is not None and earlier.completed_at is not None:
        return []
    return ["nothing to carry over: no completed earlier assignment"]


# -- effects (inside the transition's transaction) ----------------------------------------------


def _supersede_earlier(assignment: TrainingAssignment) -> None:
    """The completion replaces earlier live assignments of the same trainee and requirement."""
    for earlier in queries.live_assignments(assignment.trainee_id, assignment.requirement_id,
                                            exclude=assignment.id):
        transition(earlier, "supersede", system_user(),
                   reason=f"Replaced by {assignment.number}")


def stamp_completion(assignment: TrainingAssignment, user, *, evidence: str = "") -> None:  # type: ignore[no-untyped-def]
    requirement = assignment.requirement
    now = utcnow()
    assignment.completed_at = now
    months = requirement.expiry_months or 0
    assignment.expires_on = add_months(now.date(), months) if months else None
    attempt = queries.passed_attempt(assignment)
    assignment.score = attempt.score if attempt is not None else None
    if evidence:
        assignment.evidence = evidence
    db.session.flush()
    _supersede_earlier(assignment)


def completed(assignment: TrainingAssignment, user) -> None:  # type: ignore[no-untyped-def]
    stamp_completion(assignment, user)


def completion_recorded(assignment: TrainingAssignment, user) -> None:  # type: ignore[no-untyped-def]
    stamp_completion(assignment, user, evidence=current_reason())  # the attendance


def carried_over(assignment: TrainingAssignment, user) -> None:  # type: ignore[no-untyped-def]
    earlier = db.session.get(TrainingAssignment, assignment.carried_over_from_id)
    assignment.completed_at = utcnow()
    assignment.expires_on = earlier.expires_on
    assignment.score = earlier.score
    assignment.evidence = (f"Completion of {earlier.number} (version "
                           f"{earlier.version_label or '-'}) carries over: version "
                           f"{assignment.version_label} needs no new training.")
    db.session.flush()
    _supersede_earlier(assignment)


def waived(assignment: TrainingAssignment, user) -> None:  # type: ignore[no-untyped-def]
    assignment.evidence = f"Waived by {user.printed_name}: {current_reason()}"
    db.session.flush()
    _supersede_earlier(assignment)


def default_due_date() -> date:
    from datetime import timedelta

    return utcnow().date() + timedelta(days=get_setting("training.default_due_days"))


CURRICULUM_TRANSITIONS = (
    Transition("approve", ("draft",), "active", "training.manage", "Approve for use",
               signature="approved", guards=(role_exists, requirements_usable)),
    Transition("revise", ("active",), "draft", "training.manage", "Revise",
               reason_required=True),
    Transition("retire", ("draft", "active"), "retired", "training.manage", "Retire",
               reason_required=True),
)
ASSIGNMENT_TRANSITIONS = (
    Transition("complete", ("assigned",), "completed", "training.view",
               "Sign read and understood", signature="read_and_understood",
               guards=(trainee_only, self_completed, quiz_passed, version_still_in_effect),
               effects=(completed,)),
    Transition("record_completion", ("assigned",), "completed", "training.record_completion",
               "Record completion", signature="verified", reason_required=True,
               guards=(trainer_recorded,), not_by=("trainee_id",),
               effects=(completion_recorded,)),
    Transition("waive", ("assigned",), "waived", "training.manage", "Waive",
               signature="approved", reason_required=True, not_by=("trainee_id",),
               effects=(waived,)),
    Transition("cancel", ("assigned",), "cancelled", "training.manage", "Cancel",
               reason_required=True),
    Transition("withdraw", ("assigned",), "cancelled", "training.manage", "Withdraw",
               reason_required=True, automatic=True),
    Transition("supersede", ("assigned", "completed", "waived"), "superseded",
               "training.manage", "Supersede", reason_required=True, automatic=True),
    Transition("carry_over", ("assigned",), "completed", "training.manage", "Carry over",
               reason_required=True, automatic=True, guards=(has_predecessor,),
               effects=(carried_over,)),
)
WORKFLOWS = [
    Workflow(CURRICULUM, ("draft", "active", "retired"), "draft", CURRICULUM_TRANSITIONS,
             categories={"draft": "draft", "active": "open", "retired": "closed"}),
    # Open and closed assignments are live (they count for the matrix); a cancelled or
    # superseded one no longer counts.
    Workflow(ASSIGNMENT, ("assigned", "completed", "waived", "cancelled", "superseded"),
             "assigned", ASSIGNMENT_TRANSITIONS,
             categories={"assigned": "open", "completed": "closed", "waived": "closed",
                         "cancelled": "cancelled", "superseded": "cancelled"}),
]

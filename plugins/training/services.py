"""Who must be trained on what, and the writers of assignments and quiz attempts.

They flush in the caller's transaction; the caller commits (or rolls back on error).
Automatic work (assignments made because of a role, a curriculum, a new document version or an
expiring completion) is attributed to the system principal; state changes go through
``core.transition``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from core import (
    ConflictError,
    PermissionDenied,
    Record,
    ValidationError,
    audit_reason,
    create_record,
    db,
    notify,
    server_write,
    system_user,
    transition,
    utcnow,
)
from plugins.training import queries
from plugins.training.models import (
    Curriculum,
    QuizAttempt,
    TrainingAssignment,
    TrainingRequirement,
)
from plugins.training.workflows import default_due_date

AUTOMATIC_TRIGGERS = ("role", "curriculum", "document_version", "expiry")


@dataclass(frozen=True)
class Need:
    """A requirement a person must be trained on, why, and where (the role's scope)."""

    requirement_id: int
    curriculum_id: int
    study_id: int | None
    site_id: int | None


def curriculum_applies(curriculum: Curriculum, grant: Any) -> bool:
    """Whether a curriculum covers a role assignment: same role; a site curriculum that site; a
    study curriculum the study or one of its sites; a country curriculum sites in that country."""
    if curriculum.role_key != grant.role.key:
        return False
    site = grant.site
    if curriculum.site_id is not None:
        return grant.site_id == curriculum.site_id
    if curriculum.study_id is not None:
        study_id = site.study_id if site is not None else grant.study_id
        if study_id != curriculum.study_id:
            return False
    if curriculum.country:
        return site is not None and (site.country or "").upper() == curriculum.country.upper()
    return True


def needs_of(user: Any, curricula: list[Curriculum] | None = None,
             by_code: dict[str, TrainingRequirement] | None = None) -> dict[int, Need]:
    """The requirements ``user`` must be trained on, from the active curricula of their roles
    (``curricula`` and the requirements ``by_code`` may be given to save queries)."""
    if curricula is None:
        curricula = queries.active_curricula()
    if by_code is None:
        by_code = {r.code: r for r in queries.requirements_by_code(
            {code for c in curricula for code in c.codes})}
    needs: dict[int, Need] = {}
    grants = sorted(user.active_assignments(), key=lambda g: (g.site_id is not None,
                                                              g.study_id is not None, g.id))
    of_role: dict[str, list[Curriculum]] = {}  # a matrix export asks for thousands of people
    for curriculum in curricula:
        of_role.setdefault(curriculum.role_key, []).append(curriculum)
    for grant in grants:  # global grants first: their scope is the widest
        for curriculum in of_role.get(grant.role.key, ()):
            if not curriculum_applies(curriculum, grant):
                continue
            for code in curriculum.codes:
                requirement = by_code.get(code)
                if requirement is None or not requirement.active or requirement.id in needs:
                    continue
                study_id = grant.site.study_id if grant.site is not None else grant.study_id
                needs[requirement.id] = Need(requirement.id, curriculum.id, study_id,
                                             grant.site_id)
    return needs


def _current(assignment: TrainingAssignment, version_id: int | None, today: date) -> bool:
    """Whether a live assignment covers its requirement today (open work counts as covered)."""
    if assignment.state == "assigned":
        return True
    if assignment.expires_on is not None and assignment.expires_on < today:
        return False
    return version_id is None or assignment.document_version_id == version_id


def assign(trainee: Any, requirement: TrainingRequirement, *, trigger: str = "manual",
           by: Any = None, due: date | None = None, curriculum_id: int | None = None,
           study_id: int | None = None, site_id: int | None = None,
           carried_over_from: TrainingAssignment | None = None) -> TrainingAssignment:
    """A new open assignment (the trainee is notified once it commits)."""
    actor = by or system_user()
    version = queries.version_in_effect(requirement.document_id) \
        if requirement.kind == "document" else None
    subject = requirement.code + (f" v{version.version_label}" if version is not None else "")
    title = f"{subject}: {requirement.title}"[:300]
    with server_write("training_assignment"):
        assignment = create_record(
            "training_assignment", actor, reason=f"Training assigned ({trigger})", title=title,
            trainee_id=trainee.id, requirement_id=requirement.id,
            due_date=due or default_due_date(), curriculum_id=curriculum_id, trigger=trigger,
            study_id=study_id, site_id=site_id,
            carried_over_from_id=carried_over_from.id if carried_over_from else None)
    if carried_over_from is None:
        notify("training.assigned", trainee, f"Training assigned: {title}",
               f"Complete {assignment.number} by {assignment.due_date.isoformat()}.",
               record=assignment, due=assignment.due_date)
    return assignment


def sync_user(user: Any, curricula: list[Curriculum] | None = None) -> list[TrainingAssignment]:
    """Assign what ``user``'s curricula require and they lack; withdraw open automatic
    assignments no longer required (a revoked role, a retired curriculum). Idempotent."""
    if not user.active or user.is_service:
        return []
    needs = needs_of(user, curricula)
    today = utcnow().date()
    made = []
    for need in needs.values():
        requirement = db.session.get(TrainingRequirement, need.requirement_id)
        if queries.document_problem(requirement):
            continue  # not assignable now (e.g. obsolete document); nothing to do until it is
        version = queries.version_in_effect(requirement.document_id)
        live = queries.live_assignments(user.id, requirement.id)
        if any(_current(a, version.id if version else None, today) for a in live):
            continue
        trigger = "curriculum"
        if live:  # trained before: on an older version, or the completion expired
            older = version is not None and any(a.document_version_id != version.id
                                                for a in live)
            trigger = "document_version" if older else "expiry"
        made.append(assign(user, requirement, trigger=trigger, curriculum_id=need.curriculum_id,
                           study_id=need.study_id, site_id=need.site_id))
    required = set(needs)
    for assignment in _open_automatic(user):
        if assignment.requirement_id not in required:
            transition(assignment, "withdraw", system_user(),
                       reason="No longer required by the curricula of the trainee's roles")
    return made


def _open_automatic(user: Any) -> list[TrainingAssignment]:
    return list(db.session.scalars(select(TrainingAssignment).where(
        TrainingAssignment.trainee_id == user.id, Record.state == "assigned",
        TrainingAssignment.trigger.in_(("role", "curriculum")))))


def sync_role(role_key: str) -> int:
    """Bring every holder of ``role_key`` in line with the active curricula; returns how many
    assignments were made."""
    curricula = queries.active_curricula()
    return sum(len(sync_user(user, curricula)) for user in queries.holders_of(role_key))


def version_became_effective(document: Any, version: Any) -> int:
    """A new version of a document took effect: replace the assignments of its requirements
    (read the new version), or carry completions over when it needs no new training."""
    actor = system_user()
    count = 0
    for requirement in queries.requirements_of_document(document.id):
        by_trainee: dict[int, list[TrainingAssignment]] = {}
        for assignment in queries.assignments_of_requirement(requirement.id):
            if assignment.document_version_id != version.id:
                by_trainee.setdefault(assignment.trainee_id, []).append(assignment)
        for live in by_trainee.values():
            done = [a for a in live if a.state in ("completed", "waived")]
            for open_one in (a for a in live if a.state == "assigned"):
                transition(open_one, "supersede", actor,
                           reason=f"{version.number} is effective: read that version instead")
            first = live[0]
            scope = {"curriculum_id": first.curriculum_id, "study_id": first.study_id,
                     "site_id": first.site_id}
            trainee = first.trainee
            if done and not version.training_required:
                carried = assign(trainee, requirement, trigger="document_version",
                                 carried_over_from=done[-1], **scope)
                transition(carried, "carry_over", actor,
                           reason=f"{version.number} is marked training not required")
            else:
                assign(trainee, requirement, trigger="document_version", **scope)
            count += 1
        curricula = queries.active_curricula()
        for role_key in {c.role_key for c in curricula if requirement.code in c.codes}:
            count += sync_role(role_key)
    return count


def expiring_renewals(horizon: date) -> list[TrainingAssignment]:
    """Open a retraining assignment for each completion expiring by ``horizon`` that has none."""
    made = []
    stmt = select(TrainingAssignment).where(Record.state == "completed",
                                            TrainingAssignment.expires_on.is_not(None),
                                            TrainingAssignment.expires_on <= horizon)
    for completed in db.session.scalars(stmt.order_by(TrainingAssignment.id)).all():
        live = queries.live_assignments(completed.trainee_id, completed.requirement_id)
        if any(a.state == "assigned" or a.id > completed.id for a in live):
            continue
        trainee = completed.trainee
        if not trainee.active or queries.document_problem(completed.requirement):
            continue
        due = max(completed.expires_on, utcnow().date())
        made.append(assign(trainee, completed.requirement, trigger="expiry", due=due,
                           curriculum_id=completed.curriculum_id, study_id=completed.study_id,
                           site_id=completed.site_id))
    return made


def take_quiz(assignment: TrainingAssignment, user: Any, answers: list[int]) -> QuizAttempt:
    """Score one attempt at the assignment's quiz (the trainee's own, while it is open)."""
    if assignment.trainee_id != user.id:
        raise PermissionDenied(f"only {assignment.trainee.printed_name} takes this quiz")
    if assignment.state != "assigned":
        raise ConflictError(f"{assignment.number} is {assignment.state}: no quiz to take")
    requirement = assignment.requirement
    questions = queries.questions_of(requirement)
    if not questions:
        raise ConflictError(f"{requirement.code} has no quiz")
    attempts = queries.attempts_of(assignment)
    if queries.passed_attempt(assignment) is not None:
        raise ConflictError(f"{assignment.number}: the quiz is passed already")
    if requirement.max_attempts and len(attempts) >= requirement.max_attempts:
        raise ConflictError(f"{assignment.number}: all {requirement.max_attempts} attempts are "
                            "used; ask a trainer to reassign the training")
    if len(answers) != len(questions):
        raise ValidationError({"answers": f"Answer each of the {len(questions)} questions."})
    errors = [f"question {i}: choose 1-{len(q.choice_list)}"
              for i, (q, a) in enumerate(zip(questions, answers, strict=True), 1)
              if not isinstance(a, int) or not 1 <= a <= len(q.choice_list)]
    if errors:
        raise ValidationError({"answers": "; ".join(errors)})
    right = sum(q.answer == a for q, a in zip(questions, answers, strict=True))
    score = round(100 * right / len(questions))
    attempt = QuizAttempt(assignment_id=assignment.id, attempt=len(attempts) + 1,
                          answers=",".join(map(str, answers)), score=score,
                          passed=score >= requirement.pass_mark)
    with audit_reason(f"Quiz attempt {attempt.attempt} of {assignment.number}"):
        db.session.add(attempt)
        db.session.flush()
    return attempt

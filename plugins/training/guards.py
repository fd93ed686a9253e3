"""The session guard of the training plugin: what no path (service, admin, API) may do.

Before every flush: a new assignment names an active person and an assignable requirement
(a document requirement gets the version in effect; an obsolete document is refused, ISO-06)
and is the only open one of that person and requirement; its trainee and requirement never
change, and its server-owned fields change only inside the plugin's services and effects; an
approved curriculum changes only after ``revise``; a requirement's code, kind and document are
fixed; quiz attempts are never changed or removed.
"""

from __future__ import annotations

from typing import Any

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import ConflictError, ServiceScope, User, ValidationError, changed_fields, state_before_change
from plugins.training.models import (
    ASSIGNMENT_SERVER_FIELDS,
    KINDS,
    Curriculum,
    QuizAttempt,
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)

FIXED_ASSIGNMENT_FIELDS = ("trainee_id", "requirement_id")
FIXED_REQUIREMENT_FIELDS = ("code", "kind", "document_id")
service_scope = ServiceScope("training")  # ``with service_scope():`` in own effects


def _check_new_assignment(session: Session, assignment: TrainingAssignment) -> None:
    from plugins.training import queries

    given = [n for n in ASSIGNMENT_SERVER_FIELDS if n != "trigger"
             and getattr(assignment, n) not in (None, "")]
    if given and not service_scope.active:
        raise ValidationError({n: "Set by the server." for n in given})
    trainee = session.get(User, assignment.trainee_id) if assignment.trainee_id else None
    if trainee is None or not trainee.active or trainee.is_service:
        raise ValidationError({"trainee_id": "Name an active user."})
    requirement = (session.get(TrainingRequirement, assignment.requirement_id)
                   if assignment.requirement_id else None)
    if requirement is None or not requirement.active:
        raise ValidationError({"requirement_id": "Name an active training requirement."})
    with session.no_autoflush:
        problem = queries.document_problem(requirement)
        if problem:
            raise ConflictError(f"{requirement.code} cannot be assigned: {problem}")
        if requirement.kind == "document":
            version = queries.version_in_effect(requirement.document_id)
            assignment.document_version_id = version.id
            assignment.version_label = version.version_label
        open_ones = [a for a in queries.live_assignments(trainee.id, requirement.id)
                     if a.state == "assigned" and a is not assignment]
    if open_ones:
        raise ConflictError(f"{trainee.username} already has {open_ones[0].number} open for "
                            f"{requirement.code}")
    assignment.owner_id = trainee.id  # "my training": the trainee owns it


def _check_changed_assignment(assignment: TrainingAssignment) -> None:
    changed = changed_fields(assignment)
    fixed = [n for n in changed if n in FIXED_ASSIGNMENT_FIELDS or n == "owner_id"]
    if fixed:
        raise ValidationError({n: "Fixed when the assignment was made." for n in fixed})
    owned = [n for n in changed if n in ASSIGNMENT_SERVER_FIELDS]
    if owned and not service_scope.active:
        raise ValidationError({n: "Set by the server." for n in owned})
    before = state_before_change(assignment)
    if before != "assigned" and not service_scope.active and changed:
        raise ValidationError({changed[0]: f"{assignment.number} is {before}: a closed "
                                           "assignment never changes."})


def _check_curriculum(curriculum: Curriculum) -> None:
    changed = changed_fields(curriculum)
    before = state_before_change(curriculum)
    if changed and before != "draft":
        raise ValidationError({changed[0]: f"{curriculum.number} is {before}: revise it (back "
                                           "to draft) to change it."})


def _check_requirement(requirement: TrainingRequirement, new: bool) -> None:
    if not new:
        fixed = [n for n in changed_fields(requirement) if n in FIXED_REQUIREMENT_FIELDS]
        if fixed:
            raise ValidationError({n: "Fixed when the requirement was created." for n in fixed})
        return
    errors = {}
    if requirement.kind not in KINDS:
        errors["kind"] = f"One of {', '.join(KINDS)}."
    elif requirement.kind == "document" and not requirement.document_id:
        errors["document_id"] = "A document requirement names the controlled document."
    elif requirement.kind != "document" and requirement.document_id:
        errors["document_id"] = "Only document requirements name a document."
    for name, low, high in (("pass_mark", 1, 100), ("max_attempts", 0, 20),
                            ("expiry_months", 0, 240)):
        value = getattr(requirement, name)
        if value is not None and not low <= value <= high:
            errors[name] = f"Between {low} and {high}."
    if errors:
        raise ValidationError(errors)
    from plugins.training import queries

    problem = queries.document_problem(requirement)
    if problem:
        raise ConflictError(f"{requirement.code}: {problem}")


def _check_question(question: TrainingQuestion) -> None:
    choices = question.choice_list
    if len(choices) < 2:
        raise ValidationError({"choices": "Give at least two choices, one per line."})
    if not question.answer or not 1 <= question.answer <= len(choices):
        raise ValidationError({"answer": f"The number of the correct choice (1-{len(choices)})."})


def _guard(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.new):
        if isinstance(obj, TrainingAssignment):
            _check_new_assignment(session, obj)
        elif isinstance(obj, TrainingRequirement):
            _check_requirement(obj, new=True)
        elif isinstance(obj, TrainingQuestion):
            _check_question(obj)
    for obj in list(session.dirty):
        if not session.is_modified(obj):
            continue
        if isinstance(obj, TrainingAssignment):
            _check_changed_assignment(obj)
        elif isinstance(obj, Curriculum):
            _check_curriculum(obj)
        elif isinstance(obj, TrainingRequirement):
            _check_requirement(obj, new=False)
        elif isinstance(obj, TrainingQuestion):
            _check_question(obj)
        elif isinstance(obj, QuizAttempt):
            raise ValidationError({"answers": "A quiz attempt is never changed."})
    for obj in session.deleted:
        if isinstance(obj, QuizAttempt | TrainingQuestion | TrainingRequirement):
            raise ValidationError({"id": "Training data is never deleted; retire it instead."})


def install() -> None:
    """Listen on the app's sessions (idempotent), ahead of the core's guard: the version an
    assignment gets is part of its content hash, which the core computes next."""
    if not event.contains(FlaskSession, "before_flush", _guard):
        event.listen(FlaskSession, "before_flush", _guard, insert=True)

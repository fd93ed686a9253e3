"""What the core's declarations cannot say about training, for every path (service, admin,
API): a new assignment names an active person and an assignable requirement, takes the
document version in effect (ISO-06) and is the only open one of that person and requirement
(``prepare_new`` of the assignment type); requirements and quiz questions are well formed
(``validate_change``). Fixed, server-owned and frozen fields, and rows never changed or
deleted, are declared (plugin.py, ``__rules__`` on the models) and enforced by the core.
"""

from __future__ import annotations

from typing import Any

from core import ConflictError, User, ValidationError, db
from plugins.training import queries
from plugins.training.models import KINDS, TrainingAssignment, TrainingQuestion, TrainingRequirement


def prepare_new_assignment(assignment: TrainingAssignment) -> None:
    session = db.session
    with session.no_autoflush:
        trainee = User.by_id(assignment.trainee_id)
        if trainee is None or not trainee.active or trainee.is_service:
            raise ValidationError({"trainee_id": "Name an active user."})
        requirement = (session.get(TrainingRequirement, assignment.requirement_id)
                       if assignment.requirement_id else None)
        if requirement is None or not requirement.active:
            raise ValidationError({"requirement_id": "Name an active training requirement."})
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


def _requirement_problems(requirement: TrainingRequirement) -> list[tuple[str, str]]:
    problems = []
    if requirement.kind not in KINDS:
        problems.append(("kind", f"One of {', '.join(KINDS)}."))
    elif requirement.kind == "document" and not requirement.document_id:
        problems.append(("document_id", "A document requirement names the controlled document."))
    elif requirement.kind != "document" and requirement.document_id:
        problems.append(("document_id", "Only document requirements name a document."))
    for name, low, high in (("pass_mark", 1, 100), ("max_attempts", 0, 20),
                            ("expiry_months", 0, 240)):
        value = getattr(requirement, name)
        if value is not None and not low <= value <= high:
            problems.append((name, f"Between {low} and {high}."))
    if problems:
        return problems
    problem = queries.document_problem(requirement)
    if problem:
        raise ConflictError(f"{requirement.code}: {problem}")
    return []


def _question_problems(question: TrainingQuestion) -> list[tuple[str, str]]:
    choices = question.choice_list
    if len(choices) < 2:
        return [("choices", "Give at least two choices, one per line.")]
    if not question.answer or not 1 <= question.answer <= len(choices):
        return [("answer", f"The number of the correct choice (1-{len(choices)}).")]
    return []


def change_problems(row: Any, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``validate_change`` answer of the training plugin."""
    if isinstance(row, TrainingRequirement) and row.id is None:
        return _requirement_problems(row)
    if isinstance(row, TrainingQuestion):
        return _question_problems(row)
    return []

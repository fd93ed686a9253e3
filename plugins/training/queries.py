"""Read-only lookups shared by the guards, workflows, services and views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core import Record, Role, User, call_hook, db, hook_implemented, states_in, users_holding
from plugins.training.models import (
    Curriculum,
    QuizAttempt,
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)

ASSIGNMENT_TYPE = "training_assignment"


def live_states() -> tuple[str, ...]:
    """Assignment states that still count for the trainee and requirement (open or closed; not
    cancelled or superseded), from the workflow's categories."""
    return states_in(ASSIGNMENT_TYPE, "open", "closed")


def open_states() -> tuple[str, ...]:
    """Assignment states with training still to do."""
    return states_in(ASSIGNMENT_TYPE, "open")


def requirements_by_code(codes: Iterable[str]) -> list[TrainingRequirement]:
    codes = list(codes)
    if not codes:
        return []
    return list(db.session.scalars(select(TrainingRequirement).where(
        TrainingRequirement.code.in_(codes))))


def documents_available() -> bool:
    """Whether document control answers (the documents plugin is loaded and enabled)."""
    return hook_implemented("documents_version_in_effect")


def version_in_effect(document_id: int | None, at: datetime | None = None) -> Any:
    """The documents plugin's answer (None without it, or when nothing is in effect)."""
    if document_id is None or not documents_available():
        return None
    return call_hook("documents_version_in_effect", document_id=document_id, at=at)


def versions_in_effect(document_ids: Iterable[int]) -> dict[int, Any]:
    """``{document id: effective version}`` in one query (empty without document control)."""
    ids = [i for i in document_ids if i is not None]
    if not ids or not documents_available():
        return {}
    return call_hook("documents_versions_in_effect", document_ids=ids) or {}


def document_problem(requirement: TrainingRequirement) -> str | None:
    """Why a document requirement cannot be assigned now (ISO-06), or None."""
    if requirement.kind != "document":
        return None
    if not documents_available():
        return "document control (plugin documents) is not enabled"
    document = controlled_document(document_id=requirement.document_id)
    if document is None:
        return "names no controlled document"
    if document.state not in ("effective",):
        return f"{document.number} is {document.state}: only effective documents are trained on"
    if version_in_effect(document.id) is None:
        return f"{document.number} has no effective version"
    return None


def questions_of(requirement: TrainingRequirement) -> list[TrainingQuestion]:
    return list(db.session.scalars(select(TrainingQuestion).where(
        TrainingQuestion.requirement_id == requirement.id).order_by(TrainingQuestion.position,
                                                                     TrainingQuestion.id)))


def attempts_of(assignment: TrainingAssignment) -> list[QuizAttempt]:
    return list(db.session.scalars(select(QuizAttempt).where(
        QuizAttempt.assignment_id == assignment.id).order_by(QuizAttempt.attempt)))


def passed_attempt(assignment: TrainingAssignment) -> QuizAttempt | None:
    return db.session.scalars(select(QuizAttempt).where(
        QuizAttempt.assignment_id == assignment.id, QuizAttempt.passed.is_(True))
        .order_by(QuizAttempt.attempt.desc()).limit(1)).first()


def live_assignments(trainee_id: int, requirement_id: int, *,
                     exclude: int | None = None) -> list[TrainingAssignment]:
    stmt = select(TrainingAssignment).where(
        TrainingAssignment.trainee_id == trainee_id,
        TrainingAssignment.requirement_id == requirement_id,
        Record.state.in_(live_states()))
    if exclude is not None:
        stmt = stmt.where(TrainingAssignment.id != exclude)
    return list(db.session.scalars(stmt.order_by(TrainingAssignment.id)))


def assignments_of_requirement(requirement_id: int) -> list[TrainingAssignment]:
    return list(db.session.scalars(select(TrainingAssignment).where(
        TrainingAssignment.requirement_id == requirement_id,
        Record.state.in_(live_states())).order_by(TrainingAssignment.id)))


def active_curricula(role_key: str | None = None) -> list[Curriculum]:
    # The type too: else PostgreSQL walks core_record's primary key for the few active rows.
    stmt = select(Curriculum).where(Record.type == "training_curriculum", Record.state == "active")
    if role_key is not None:
        stmt = stmt.where(Curriculum.role_key == role_key)
    return list(db.session.scalars(stmt.order_by(Curriculum.id)))


def holders_of(role_key: str) -> list[User]:
    """Active, human users holding ``role_key`` in any scope."""
    return users_holding(role_key) if Role.by_key(role_key) is not None else []


def requirements_of_document(document_id: int) -> list[TrainingRequirement]:
    return list(db.session.scalars(select(TrainingRequirement).where(
        TrainingRequirement.document_id == document_id, TrainingRequirement.active.is_(True))))


def controlled_document(*, document_id: int | None = None, number: str | None = None,
                        title: str | None = None) -> Any:
    """The controlled document with this id, number or title, asked of the documents plugin
    (None when it is not enabled, or there is no such document)."""
    if not (document_id or number or title) or not hook_implemented("documents_document"):
        return None
    return call_hook("documents_document", document_id=document_id, number=number, title=title)


def version_pdf_url(version_id: int) -> str | None:
    """Where the documents plugin serves a version's point-of-use PDF (None without it)."""
    if not hook_implemented("documents_version_pdf_url"):
        return None
    return call_hook("documents_version_pdf_url", version_id=version_id)

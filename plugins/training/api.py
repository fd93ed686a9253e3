"""The training plugin's JSON API (``/api/v1/training``): the matrix, qualification at a moment,
one's own training, quizzes and requirements. Curricula and assignments are records: the core's
``/api/v1/records/training_curriculum`` and ``.../training_assignment`` endpoints serve them."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from core import (
    ConflictError,
    Record,
    Role,
    Site,
    Study,
    User,
    ValidationError,
    abort_problem,
    api_user,
    audit_reason,
    authorize_first,
    db,
    get_setting,
    has_permission,
    may_act_in,
    may_read,
    problem_responses,
    requires,
    requires_any,
    scope_clause,
    utcnow,
)
from plugins.training import queries
from plugins.training.matrix import MATRIX, Filters, build_matrix, cell_status
from plugins.training.matrix_export import start_matrix_export
from plugins.training.models import (
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)
from plugins.training.qualification import qualification as answer
from plugins.training.schemas import (
    JobStarted,
    MatrixExportQuery,
    MatrixPage,
    MatrixQuery,
    MyAssignment,
    Qualification,
    QualificationQuery,
    Quiz,
    QuizAnswers,
    QuizAttempt,
    Requirement,
    RequirementPage,
    RequirementQuery,
    RequirementWrite,
)
from plugins.training.services import take_quiz as score

blp = Blueprint("training_api", __name__, url_prefix="/api/v1/training",
                description="Training: matrix, qualification, one's own training, quizzes and "
                            "requirements (curricula and assignments: /records/training_*)")
VIEW = "training.view"
MANAGE = "training.manage"
ASSIGNMENT = "/assignments/<int(max=2147483647):assignment_id>/quiz"


# -- lookups -------------------------------------------------------------------------------------


def _may_manage_requirements(**_: Any) -> User:
    user = api_user()
    if not may_act_in(user, MANAGE):
        abort(403, description=f"{MANAGE} without a study/site scope is required: "
                               "requirements are shared by every study.")
    return user


def _may_take_quiz(assignment_id: int) -> None:
    viewer = api_user()
    if _assignment(assignment_id, viewer).trainee_id != viewer.id:
        abort(403, description="Only the trainee takes this quiz.")


def _person(viewer: User, username: str, field: str = "user") -> User:
    """A user the viewer may see training of: themselves, or someone with a role (past or
    present) in the viewer's training.view_matrix scope; 400 otherwise."""
    person = User.by_username(username)
    if person is not None and person.id != viewer.id and not may_act_in(viewer, MATRIX):
        visible = User.in_scope(viewer, MATRIX, username=person.username, limit=1, former=True)
        person = person if visible else None
    if person is None:
        abort_problem(400, f"No user {username!r} in your scope.", field=field)
    return person


def _study(viewer: User, code: str, field: str = "study") -> Study:
    study = Study.by_code(code)
    if study is None or not has_permission(viewer, MATRIX, study=study.id):
        abort_problem(400, f"No study {code!r} in your scope.", field=field)
    return study


def _site(viewer: User, code: str, study: Study | None) -> Site:
    if "/" in code:
        study_code, _, code = code.partition("/")
        named = _study(viewer, study_code, "site")
        if study is not None and named.id != study.id:
            abort_problem(400, f"Site {study_code}/{code} is not in study {study.code}.",
                          field="site")
        study = named
    site = Site.by_code(code, study)
    if site is None and study is None and len(
            [s for s in Site.pick_list() if s.code == code.strip()]) > 1:
        abort_problem(400, f"Several studies have a site {code!r}: give STUDY/SITE or study.",
                      field="site")
    if site is None or not has_permission(viewer, MATRIX, site=site):
        abort_problem(400, f"No site {code!r} in your scope.", field="site")
    return site


def _assignment(assignment_id: int, viewer: User) -> TrainingAssignment:
    assignment = db.session.get(TrainingAssignment, assignment_id)
    if assignment is None or not may_read(assignment, viewer):
        abort(404, description=f"No training assignment with id {assignment_id}.")
    return assignment


def _version_id(requirement: TrainingRequirement) -> int | None:
    if requirement.kind != "document":
        return None
    version = queries.version_in_effect(requirement.document_id)
    return version.id if version is not None else None


# -- the matrix and qualification ----------------------------------------------------------------


@blp.route("/matrix")
@requires(MATRIX)
@blp.arguments(MatrixQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, MatrixPage)
@problem_responses(blp, 400, 401, 403)
def matrix(query: dict[str, Any]) -> Any:
    """People x requirements of the active curricula in your scope (training.view_matrix);
    keyset pages of people by username."""
    viewer = api_user()
    page = build_matrix(viewer, _filters(viewer, query), after=query.get("after") or None,
                        limit=query["limit"])
    codes = {r.id: r.code for r in page.requirements}
    rows = []
    for row in page.rows:
        compliant, required = row.compliance
        rows.append({"user": row.user.username, "full_name": row.user.full_name,
                     "cells": {codes[rid]: cell for rid, cell in row.cells.items() if rid in codes},
                     "compliant": compliant, "required": required})
    return {"requirements": page.requirements, "rows": rows, "next": page.next_after}


@blp.route("/matrix/export.csv", methods=["POST"])
@requires(MATRIX)
@blp.arguments(MatrixExportQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(202, JobStarted)
@problem_responses(blp, 400, 401, 403)
def export_matrix_csv(query: dict[str, Any]) -> Any:
    """Start a CSV export of the whole filtered matrix; poll ``href`` (GET /api/v1/jobs/{id})
    until it is done, then download its file."""
    return _start_export(query, "csv")


@blp.route("/matrix/export.pdf", methods=["POST"])
@requires(MATRIX)
@blp.arguments(MatrixExportQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(202, JobStarted)
@problem_responses(blp, 400, 401, 403)
def export_matrix_pdf(query: dict[str, Any]) -> Any:
    """Start a PDF export of the whole filtered matrix, as ``export.csv``."""
    return _start_export(query, "pdf")


def _start_export(query: dict[str, Any], fmt: str) -> Any:
    viewer = api_user()
    filters = _filters(viewer, query)
    described = ", ".join(f"{k}={v}" for k, v in sorted(query.items()) if v) or "none"
    job = start_matrix_export(viewer, fmt, filters, described)
    db.session.commit()
    href = f"/api/v1/jobs/{job.id}"
    return {"id": job.id, "state": job.state, "href": href}, 202, {"Location": href}


def _filters(viewer: User, query: dict[str, Any]) -> Filters:
    """The matrix filters of a query, each checked against the viewer's scope (400 naming the
    parameter otherwise)."""
    if query.get("role") and Role.by_key(query["role"]) is None:
        abort_problem(400, f"No role {query['role']!r}.", field="role")
    study = _study(viewer, query["study"]) if query.get("study") else None
    site = _site(viewer, query["site"], study) if query.get("site") else None
    if query.get("user"):
        _person(viewer, query["user"])
    return Filters(role=query.get("role") or None, study_id=study.id if study else None,
                   site_id=site.id if site else None, username=query.get("user") or None)


@blp.route("/qualification")
@requires_any(VIEW, MATRIX)  # one's own with training.view, anyone's with the matrix
@blp.arguments(QualificationQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, Qualification)
@problem_responses(blp, 400, 401, 403, 404)
def qualification(query: dict[str, Any]) -> Any:
    """Whether a person was trained on the version of a document in effect at a moment, with
    the evidence (training.view_matrix; yourself: training.view)."""
    viewer = api_user()
    username = query.get("user") or viewer.username
    if username != viewer.username and not has_permission(viewer, MATRIX):
        abort(403, description=f"{MATRIX} is required for someone else's training.")
    if not queries.documents_available():
        abort(404, description="document control is not enabled")
    person = _person(viewer, username)
    document = queries.controlled_document(number=query["document"])
    if document is None or not may_read(document, viewer):
        abort_problem(400, f"No controlled document {query['document']!r}.", field="document")
    at = query.get("at")
    if at is not None:
        try:
            at = at.astimezone(UTC)
        except OverflowError:
            abort_problem(400, "Out of range.", field="at")
    return answer(person, document, at)


# -- one's own training and quizzes --------------------------------------------------------------


@blp.route("/my")
@requires(VIEW)
@blp.response(200, MyAssignment(many=True))
@problem_responses(blp, 401, 403)
def my_training() -> Any:
    """Your live assignments (assigned, completed, waived) with their derived status."""
    user = api_user()
    stmt = (select(TrainingAssignment)
            .where(TrainingAssignment.trainee_id == user.id, Record.state.in_(queries.live_states()),
                   scope_clause(user, VIEW, Record.study_id, Record.site_id))
            .order_by(TrainingAssignment.id))
    today = utcnow().date()
    expiring_days = get_setting("training.expiry_notice_days")
    versions: dict[int, int | None] = {}
    out = []
    for assignment in db.session.scalars(stmt):
        requirement = assignment.requirement
        if requirement.id not in versions:
            versions[requirement.id] = _version_id(requirement)
        status = cell_status([assignment], versions[requirement.id], today, expiring_days).status
        if status == "not_assigned":  # a completion that no longer covers the requirement
            status = "outdated"
        pending = (assignment.state == "assigned" and bool(queries.questions_of(requirement))
                   and queries.passed_attempt(assignment) is None)
        out.append({"id": assignment.id, "number": assignment.number, "title": assignment.title,
                    "requirement": requirement.code, "kind": requirement.kind,
                    "version_label": assignment.version_label, "state": assignment.state,
                    "status": status, "due_date": assignment.due_date,
                    "expires_on": assignment.expires_on, "quiz_pending": pending})
    return out


@blp.route(ASSIGNMENT, methods=["GET"])
@requires(VIEW)
@blp.response(200, Quiz)
@problem_responses(blp, 401, 403, 404)
def quiz(assignment_id: int) -> Any:
    """The assignment's quiz without the answers (its trainee, or training.manage)."""
    viewer = api_user()
    assignment = _assignment(assignment_id, viewer)
    if assignment.trainee_id != viewer.id and not has_permission(
            viewer, MANAGE, study=assignment.study_id, site=assignment.site_id):
        abort(403, description=f"Only the trainee (or {MANAGE}) sees this quiz.")
    requirement = assignment.requirement
    return {"assignment": assignment.number, "requirement": requirement.code,
            "state": assignment.state, "pass_mark": requirement.pass_mark,
            "attempts_used": len(queries.attempts_of(assignment)),
            "attempts_allowed": requirement.max_attempts,
            "passed": queries.passed_attempt(assignment) is not None,
            "questions": [{"position": i, "text": q.text, "choices": q.choice_list}
                          for i, q in enumerate(queries.questions_of(requirement), 1)]}


@blp.route(ASSIGNMENT, methods=["POST"])
@requires(VIEW)
@authorize_first(_may_take_quiz)
@blp.arguments(QuizAnswers)
@blp.response(201, QuizAttempt)
@problem_responses(blp, 401, 403, 404, 409, 422)
def take_quiz(body: dict[str, Any], assignment_id: int) -> Any:
    """One attempt at the quiz (the trainee only, while the assignment is open); 409 when
    passed already or the attempts are used up."""
    viewer = api_user()
    attempt = score(_assignment(assignment_id, viewer), viewer, body["answers"])
    db.session.commit()
    return attempt


# -- requirements --------------------------------------------------------------------------------


def _requirement_json(requirements: list[TrainingRequirement]) -> list[dict[str, Any]]:
    ids = [r.id for r in requirements]
    documents = {r.document_id for r in requirements if r.document_id}
    numbers = {i: r.number for i, r in Record.by_ids(documents).items()}
    counts = dict(db.session.execute(
        select(TrainingQuestion.requirement_id, func.count()).where(
            TrainingQuestion.requirement_id.in_(ids)).group_by(TrainingQuestion.requirement_id))
        .all())
    return [{"id": r.id, "code": r.code, "title": r.title, "kind": r.kind,
             "document": numbers.get(r.document_id), "expiry_months": r.expiry_months,
             "pass_mark": r.pass_mark, "max_attempts": r.max_attempts,
             "description": r.description, "active": r.active, "questions": counts.get(r.id, 0)}
            for r in requirements]


@blp.route("/requirements", methods=["GET"])
@requires(VIEW)
@blp.arguments(RequirementQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, RequirementPage)
@problem_responses(blp, 400, 401, 403)
def requirements(query: dict[str, Any]) -> Any:
    """Training requirements by code (training.view); keyset pages."""
    stmt = select(TrainingRequirement)
    if query.get("kind"):
        stmt = stmt.where(TrainingRequirement.kind == query["kind"])
    if query.get("after"):
        stmt = stmt.where(TrainingRequirement.code > query["after"])
    limit = query["limit"]
    rows = list(db.session.scalars(stmt.order_by(TrainingRequirement.code).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": _requirement_json(rows), "next": rows[-1].code if more else None}


@blp.route("/requirements", methods=["POST"])
@requires(MANAGE)
@authorize_first(_may_manage_requirements)
@blp.arguments(RequirementWrite)
@blp.response(201, Requirement)
@problem_responses(blp, 401, 403, 409, 422)
def create_requirement(body: dict[str, Any]) -> Any:
    """A new requirement (training.manage held without study/site scope: requirements are
    shared by every study). A reason is required: it is in use once created."""
    user = _may_manage_requirements()
    values = dict(body)
    reason = values.pop("reason").strip()
    number = (values.pop("document", None) or "").strip()
    if values["kind"] == "document" and not number:
        raise ValidationError({"document": "A document requirement names the controlled "
                                           "document (its number)."})
    if values["kind"] != "document" and number:
        raise ValidationError({"document": "Only document requirements name a document."})
    if number:
        document = queries.controlled_document(number=number)
        if document is None or not may_read(document, user):
            raise ValidationError({"document": f"No controlled document {number!r}."})
        values["document_id"] = document.id
    if db.session.scalar(select(exists().where(TrainingRequirement.code == values["code"]))):
        raise ValidationError({"code": f"A requirement {values['code']} exists already."})
    requirement = TrainingRequirement(**values)
    try:
        with audit_reason(reason):
            db.session.add(requirement)
            db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(f"A requirement {values['code']} was just created by someone "
                            "else.") from None
    db.session.commit()
    return _requirement_json([requirement])[0]

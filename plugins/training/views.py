"""The training blueprint: My training (open assignments with the document to read, the quiz
and the read-and-understood signature; completed training below) and the individual training
record PDF. Every form is a POST with a CSRF token; trainees act on their own assignments only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from core import (
    CQMSError,
    Record,
    SignatureForm,
    current_user,
    db,
    get_setting,
    has_attested,
    may_read,
    perform_transition,
    requires,
    utcnow,
)
from plugins.training import queries, services
from plugins.training.matrix import cell_status
from plugins.training.models import SELF_COMPLETED, TrainingAssignment
from plugins.training.record_pdf import record_pdf_response, visible_person

blueprint = Blueprint("training", __name__, template_folder="templates", url_prefix="/training")
INT = "int(max=2147483647)"
DONE_STATES = ("completed", "waived", "superseded")
SHOWN_DONE = 200  # completed training listed on the page (the record PDF has everything)


class QuizForm(FlaskForm):
    """Only the CSRF token: the answers are one radio group per question (``q<question id>``)."""


def _user() -> Any:
    return current_user._get_current_object()


def _own_assignment(assignment_id: int) -> TrainingAssignment:
    """The signed-in user's own assignment; anyone else's does not exist for them (404)."""
    assignment = db.session.get(TrainingAssignment, assignment_id)
    if assignment is None or assignment.trainee_id != _user().id:
        abort(404)
    return assignment


def _version_pdf(assignment: TrainingAssignment, user: Any) -> str | None:
    """The documents plugin's point-of-use PDF of the version to read, when it is offered."""
    if assignment.document_version_id is None:
        return None
    version = Record.by_id(assignment.document_version_id)
    if version is None or not may_read(version, user):
        return None
    return queries.version_pdf_url(version.id)


def _open_item(assignment: TrainingAssignment, user: Any, today: Any,
               expiring_days: int) -> dict[str, Any]:
    requirement = assignment.requirement
    questions = queries.questions_of(requirement)
    attempts = queries.attempts_of(assignment) if questions else []
    passed = next((a for a in reversed(attempts) if a.passed), None)
    used_up = bool(requirement.max_attempts) and len(attempts) >= requirement.max_attempts
    version_id = assignment.document_version_id
    return {
        "assignment": assignment,
        "requirement": requirement,
        "status": cell_status([assignment], version_id, today, expiring_days).status,
        "pdf_url": _version_pdf(assignment, user),
        "questions": questions,
        "attempts": attempts,
        "passed": passed,
        "quiz_open": bool(questions) and passed is None and not used_up,
        "attempts_used_up": bool(questions) and passed is None and used_up,
        "self_completed": requirement.kind in SELF_COMPLETED,
        "may_sign": requirement.kind in SELF_COMPLETED and (not questions or passed is not None),
    }


def _done_item(assignment: TrainingAssignment, today: Any, expiring_days: int) -> dict[str, Any]:
    expires = assignment.expires_on
    mark = ""
    if expires is not None and assignment.state == "completed":
        mark = cell_status([assignment], None, today, expiring_days).status
        mark = mark if mark in ("expiring", "expired") else ""
    return {"assignment": assignment, "requirement": assignment.requirement, "mark": mark}


# No automatic OPTIONS answers: like every refused request they would carry the error page.
@blueprint.route("/my", provide_automatic_options=False)
@requires("training.view")
def my_training() -> Any:
    user = _user()
    today = utcnow().date()
    expiring_days = get_setting("training.expiry_notice_days")
    mine = select(TrainingAssignment).where(TrainingAssignment.trainee_id == user.id)
    open_ones = list(db.session.scalars(mine.where(Record.state == "assigned").order_by(
        TrainingAssignment.due_date, TrainingAssignment.id)))
    done = list(db.session.scalars(mine.where(
        Record.state.in_(DONE_STATES), (Record.state == "waived")
        | TrainingAssignment.completed_at.is_not(None)).order_by(
        TrainingAssignment.completed_at.desc(), TrainingAssignment.id.desc()).limit(SHOWN_DONE)))
    items = [_open_item(a, user, today, expiring_days) for a in open_ones]
    return render_template(
        "training/my.html", items=items,
        done=[_done_item(a, today, expiring_days) for a in done],
        needs_attestation=not has_attested(user),
        overdue=sum(i["status"] == "overdue" for i in items), today=today)


@blueprint.route(f"/assignments/<{INT}:assignment_id>/quiz", methods=["POST"],
                 provide_automatic_options=False)
@requires("training.view")
def take_quiz(assignment_id: int) -> Any:
    assignment = _own_assignment(assignment_id)
    back = redirect(url_for(".my_training") + f"#assignment-{assignment.id}")
    if not QuizForm().validate_on_submit():
        flash("The form expired: reload the page and try again.", "error")
        return back
    answers = []
    for question in queries.questions_of(assignment.requirement):
        raw = request.form.get(f"q{question.id}", "")
        answers.append(int(raw) if raw.isdigit() and len(raw) < 4 else 0)
    try:
        attempt = services.take_quiz(assignment, _user(), answers)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{assignment.number}: {exc}", "error")
        return back
    outcome = "passed" if attempt.passed else "not passed"
    flash(f"{assignment.number}: quiz attempt {attempt.attempt} scored {attempt.score}% "
          f"({outcome}; pass mark {assignment.requirement.pass_mark}%).",
          "info" if attempt.passed else "error")
    return back


@blueprint.route(f"/assignments/<{INT}:assignment_id>/sign", methods=["POST"],
                 provide_automatic_options=False)
@requires("training.view")
def sign(assignment_id: int) -> Any:
    """Read and understood: the trainee's own signature on the ``complete`` transition."""
    assignment = _own_assignment(assignment_id)
    back = redirect(url_for(".my_training") + f"#assignment-{assignment.id}")
    form = SignatureForm()
    if not form.validate_on_submit():
        flash("Check the form: " + form.problems(), "error")
        return back
    user = _user()
    number = assignment.number
    try:
        perform_transition(assignment, "complete", user, signature=form.signature_request(),
                           attest=bool(form.attest.data))
    except CQMSError as exc:
        flash(f"{number}: {exc}", "error")
        return back
    flash(f"{number}: read and understood, signed by {user.printed_name}.", "info")
    return redirect(url_for(".my_training"))


@blueprint.route(f"/users/<{INT}:user_id>/record.pdf", methods=["POST"],
                 provide_automatic_options=False)
@requires("training.view")
def record_pdf(user_id: int) -> Any:
    """The individual training record: one's own, or anyone's in scope with the matrix view."""
    person = visible_person(user_id, _user())
    if person is None:
        abort(404)
    return record_pdf_response(person, _user())

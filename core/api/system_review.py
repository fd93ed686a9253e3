"""``/api/v1/system/periodic-review``: the periodic system review report for a period (A11-11):
configuration changes, plugin installs and upgrades, system incidents and open CAPAs (from the
plugins through ``system_review_items``), review status and validation results. And the lines
of a user-access review (E6-24): listed, and each confirmed or revoked, as on its page."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate

from core.api import schemas
from core.api.checks import abort_problem, api_user, authorize_first, problem_responses
from core.db import db
from core.errors import ValidationError
from core.permissions import may_act_in, requires
from core.records.service import may_read
from core.reviews.access_lines import MAX_NOTE, access_lines, decide_line
from core.reviews.models import DECISIONS, AccessReviewLine, PeriodicReview
from core.reviews.system_report import period_of, system_report

blp = Blueprint("core_api_system_review", __name__, url_prefix="/api/v1",
                description="The periodic system review report")
VIEW, PERFORM = "core.reviews.view", "core.reviews.perform"
INT = "int(max=2147483647)"


class PeriodQuery(schemas.Schema):
    start = fields.Date(required=True, data_key="from",
                        metadata={"description": "First day of the period (YYYY-MM-DD, UTC)"})
    end = fields.Date(required=True, data_key="to",
                      metadata={"description": "Last day of the period (YYYY-MM-DD, UTC)"})


class SectionOut(schemas.Schema):
    title = fields.String()
    lines = fields.List(fields.String())
    flagged = fields.Integer(metadata={"description": "How many lines need a look"})


class ReportOut(schemas.Schema):
    start = fields.AwareDateTime(data_key="from")
    end = fields.AwareDateTime(data_key="to")
    flagged = fields.Integer()
    sections = fields.List(fields.Nested(SectionOut))


@blp.route("/system/periodic-review")
@requires(VIEW)
@blp.arguments(PeriodQuery, location="query", error_status_code=422, unknown=RAISE)
@blp.response(200, ReportOut)
@problem_responses(blp, 401, 403, 422)
def periodic_review(query: dict[str, Any]) -> Any:
    """The system review report from ``from`` to ``to`` (both days included); needs
    core.reviews.view held globally (the report covers every study)."""
    if not may_act_in(api_user(), VIEW):
        abort_problem(403, "The system review needs core.reviews.view for all studies.")
    try:
        start, end = period_of(query["start"], query["end"])
    except ValidationError as exc:
        field, message = next(iter(exc.errors.items()))
        abort_problem(422, message, field=field)
    sections = system_report(start, end)
    return {"start": start, "end": end, "sections": sections,
            "flagged": sum(s["flagged"] for s in sections)}


class LineOut(schemas.Schema):
    id = fields.Integer()
    person = fields.String()
    role = fields.String(attribute="role_label")
    scope = fields.String()
    last_sign_in = fields.AwareDateTime(allow_none=True)
    inactive = fields.Boolean(metadata={"description": "No sign-in for the inactivity period"})
    decision = fields.String(metadata={"description": "confirmed, revoked, or empty: undecided"})
    note = fields.String()
    decided_at = fields.AwareDateTime(allow_none=True)


class LinesOut(schemas.Schema):
    items = fields.List(fields.Nested(LineOut))


class DecisionIn(schemas.Schema):
    decision = schemas.Text(required=True, validate=validate.OneOf(list(DECISIONS)))
    note = schemas.Text(load_default="", validate=validate.Length(max=MAX_NOTE),
                        metadata={"description": "Required to revoke: the revocation's reason"})


def _readable_review(review_id: int) -> PeriodicReview:
    review = db.session.get(PeriodicReview, review_id)
    if review is None or review.kind != "access" or not may_read(review, api_user()):
        abort(404)
    return review


def _readable_line(line_id: int) -> AccessReviewLine:
    line = db.session.get(AccessReviewLine, line_id)
    if line is None:
        abort(404)
    _readable_review(line.record_id)
    return line


@blp.route(f"/periodic-reviews/<{INT}:review_id>/access-lines")
@requires(VIEW)
@authorize_first(lambda review_id: _readable_review(review_id))
@blp.response(200, LinesOut)
@problem_responses(blp, 401, 403, 404)
def list_access_lines(review_id: int) -> Any:
    """Every line of a user-access review (user x role x scope, last sign-in, decision)."""
    return {"items": access_lines(_readable_review(review_id))}


@blp.route(f"/periodic-reviews/access-lines/<{INT}:line_id>/decision", methods=["POST"])
@requires(PERFORM)
@authorize_first(lambda line_id: _readable_line(line_id))
@blp.arguments(DecisionIn)
@blp.response(200, LineOut)
@problem_responses(blp, 401, 403, 404, 409, 422)
def decide_access_line(body: dict[str, Any], line_id: int) -> Any:
    """Confirm a line, or revoke it (the role grant ends, with ``note`` as the reason); 409
    once decided or once the review is completed."""
    line = _readable_line(line_id)
    decide_line(line, api_user(), body["decision"], body["note"])
    db.session.commit()
    return line

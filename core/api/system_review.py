"""``/api/v1/system/periodic-review``: the periodic system review report for a period (A11-11):
configuration changes, plugin installs and upgrades, system incidents and open CAPAs (from the
plugins through ``system_review_items``), review status and validation results."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, fields

from core.api import schemas
from core.api.checks import abort_problem, api_user, problem_responses
from core.errors import ValidationError
from core.permissions import may_act_in, requires
from core.reviews.system_report import period_of, system_report

blp = Blueprint("core_api_system_review", __name__, url_prefix="/api/v1",
                description="The periodic system review report")
VIEW = "core.reviews.view"


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

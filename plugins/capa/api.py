"""The CAPA plugin's JSON API (``/api/v1/capa``): the event trend for dashboards and management
review. Events and CAPAs are records: the core's ``/api/v1/records/capa_event`` and
``.../capa_capa`` endpoints create, read, change and transition them."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from core import api_user, problem_responses, requires
from plugins.capa import trend

blp = Blueprint("capa_api", __name__, url_prefix="/api/v1/capa",
                description="Quality events and CAPA: trends (events and CAPAs themselves: "
                            "/records/capa_event and /records/capa_capa)")


class TrendQuery(Schema):
    months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=60),
                            metadata={"description": "Months back, this one included"})
    by = fields.String(load_default="category", validate=validate.OneOf(trend.GROUPS),
                       metadata={"description": "Group by category, study or site"})


class TrendRow(Schema):
    month = fields.String(metadata={"description": "YYYY-MM of the report (UTC)"})
    key = fields.String(metadata={"description": "The category key, study code or site code"})
    label = fields.String()
    events = fields.Integer()


@blp.route("/trend")
@requires("capa.view")
@blp.arguments(TrendQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, TrendRow(many=True))
@problem_responses(blp, 400, 401, 403)
def events_trend(query: dict[str, Any]) -> Any:
    """Quality events reported per month, grouped by category, study or site, in your scope
    (cancelled events left out)."""
    return trend.events_per_month(api_user(), query["months"], query["by"])

"""The CAPA plugin's JSON API (``/api/v1/capa``): a CAPA's actions (plan, complete), an
event's analysis lines, and the event trend for dashboards and management review. Events and
CAPAs are records: the core's ``/api/v1/records/capa_event`` and ``.../capa_capa`` endpoints
create, read, change, link and transition them."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from core import (
    Record,
    User,
    ValidationError,
    api_user,
    db,
    may_read,
    problem_responses,
    readable_or_404,
    requires,
)
from plugins.capa import queries, services, trend
from plugins.capa.models import ACTION_KINDS, Capa, CapaAction, QualityEvent

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
    key = fields.String(metadata={"description": "The category key, the study code, or the "
                                                "site as study/site code ('' for none)"})
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


# -- actions and analysis lines -----------------------------------------------------------------

CAPA_PATH = "/capas/<int(max=2147483647):capa_id>"
EVENT_PATH = "/events/<int(max=2147483647):event_id>"


class Text(fields.String):
    """A string without NUL characters (PostgreSQL cannot store or compare them)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise SchemaError("NUL characters are not allowed.")
        return text


class Action(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "correction, corrective or preventive"})
    description = fields.String()
    owner = fields.Function(lambda a: a.owner.username if a.owner else None)
    due_date = fields.Date()
    completed_at = fields.AwareDateTime(allow_none=True)
    evidence = fields.String()
    result = fields.Function(lambda a: _number(a.result_record_id))


class ActionWrite(Schema):
    kind = Text(required=True, validate=validate.OneOf([k for k, _ in ACTION_KINDS]))
    description = Text(required=True, validate=validate.Length(min=1, max=4000))
    owner = Text(required=True, validate=validate.Length(min=1, max=64),
                 metadata={"description": "The owner's username"})
    due_date = fields.Date(required=True)


class Completion(Schema):
    evidence = Text(required=True, validate=validate.Length(min=1, max=4000))
    result = Text(load_default=None, allow_none=True, validate=validate.Length(max=64),
                  metadata={"description": "The number of the record the action produced"})


class AnalysisLine(Schema):
    id = fields.Integer()
    part = fields.String()
    finding = fields.String()
    created_at = fields.AwareDateTime()


class AnalysisWrite(Schema):
    part = Text(required=True, validate=validate.Length(min=1, max=60))
    finding = Text(required=True, validate=validate.Length(min=1, max=4000))


def _number(record_id: int | None) -> str | None:
    record = Record.by_id(record_id) if record_id else None
    return record.number if record is not None else None


@blp.route(f"{CAPA_PATH}/actions", methods=["GET"])
@requires("capa.view")
@blp.response(200, Action(many=True))
@problem_responses(blp, 401, 403, 404)
def capa_actions(capa_id: int) -> Any:
    """The CAPA's actions, in the order they were planned."""
    return queries.actions_of(readable_or_404(Capa, capa_id))


@blp.route(f"{CAPA_PATH}/actions", methods=["POST"])
@requires("capa.create")
@blp.arguments(ActionWrite)
@blp.response(201, Action)
@problem_responses(blp, 401, 403, 404, 409, 422)
def plan_action(body: dict[str, Any], capa_id: int) -> Any:
    """Plan an action (while the CAPA is in planning; 409 afterwards)."""
    capa = readable_or_404(Capa, capa_id)
    owner = User.by_username(body["owner"])
    if owner is None or not owner.active or owner.is_service:
        raise ValidationError({"owner": f"No active person with the username {body['owner']!r}."})
    action = services.add_action(capa, api_user(), kind=body["kind"],
                                 description=body["description"], owner=owner,
                                 due_date=body["due_date"])
    db.session.commit()
    return action


@blp.route("/actions/<int(max=2147483647):action_id>/complete", methods=["POST"])
@requires("capa.view")
@blp.arguments(Completion)
@blp.response(200, Action)
@problem_responses(blp, 401, 403, 404, 409, 422)
def complete_action(body: dict[str, Any], action_id: int) -> Any:
    """Complete one of your actions (the CAPA is being implemented), with what was done and
    optionally the number of the record it produced."""
    action = db.session.get(CapaAction, action_id)
    if action is None:
        abort(404)
    readable_or_404(Capa, action.record_id)
    user = api_user()
    result = None
    if body["result"]:
        result = Record.by_number(body["result"])
        if result is None or not may_read(result, user):
            raise ValidationError({"result": f"No record numbered {body['result']!r} "
                                                      "that you may see."})
    services.complete_action(action, user, evidence=body["evidence"], result=result)
    db.session.commit()
    return action


@blp.route(f"{EVENT_PATH}/analysis", methods=["GET"])
@requires("capa.view")
@blp.response(200, AnalysisLine(many=True))
@problem_responses(blp, 401, 403, 404)
def event_analysis(event_id: int) -> Any:
    """The lines of the event's root-cause analysis (5 whys, fishbone branches)."""
    return queries.analysis_of(readable_or_404(QualityEvent, event_id))


@blp.route(f"{EVENT_PATH}/analysis", methods=["POST"])
@requires("capa.create")
@blp.arguments(AnalysisWrite)
@blp.response(201, AnalysisLine)
@problem_responses(blp, 401, 403, 404, 409, 422)
def add_analysis(body: dict[str, Any], event_id: int) -> Any:
    """Add a line while the event is being investigated (409 otherwise); never changed."""
    line = services.add_analysis_line(readable_or_404(QualityEvent, event_id), api_user(),
                                      body["part"], body["finding"])
    db.session.commit()
    return line

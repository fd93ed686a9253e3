"""``/api/v1/tasks``: the caller's open tasks (or their team's), keyset-paged."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate

from core.api import schemas
from core.api.pagination import decode_cursor, encode_cursor
from core.db import db
from core.permissions import has_permission, login_only
from core.tasks.models import Task
from core.tasks.service import TEAM_PERMISSION, tasks_for

blp = Blueprint("core_api_tasks", __name__, url_prefix="/api/v1", description="Tasks")


class TaskQuery(schemas.ListQuery):
    assignee = schemas.Text(load_default="me", validate=validate.OneOf(["me", "team"]),
                            metadata={"description": "me: yours and your roles'; team: "
                                                     "everyone's in your scope (managers)"})
    kind = schemas.Text(validate=validate.Length(max=64))
    study = fields.Integer(validate=validate.Range(1, schemas.MAX_INT))
    overdue = fields.Boolean()


class TaskOut(schemas.Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    action = fields.String()
    record = fields.Nested(schemas.RecordRef)
    assignee = fields.Function(lambda t: t.assignee.username if t.assignee else None)
    role = fields.Function(lambda t: t.role.key if t.role else None)
    study_id = fields.Integer(allow_none=True)
    site_id = fields.Integer(allow_none=True)
    due = fields.Date(allow_none=True)
    overdue = fields.Boolean()
    state = fields.String()
    created_at = fields.AwareDateTime()


class TaskPage(schemas.Page):
    items = fields.List(fields.Nested(TaskOut))


@blp.route("/tasks")
@login_only  # one's own tasks; the team's need core.tasks.view_team (checked below)
@blp.arguments(TaskQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, TaskPage)
@blp.alt_response(400, schema=schemas.Problem)
@blp.alt_response(401, schema=schemas.Problem)
@blp.alt_response(403, schema=schemas.Problem)
def list_tasks(query: dict[str, Any]) -> Any:
    """Open tasks, oldest first. ``assignee=team`` needs core.tasks.view_team."""
    user = current_user._get_current_object()
    team = query["assignee"] == "team"
    if team and not has_permission(user, TEAM_PERMISSION):
        abort(403, description=f"{TEAM_PERMISSION} is required for the team's tasks.")
    stmt = tasks_for(user, include_team=team)
    if query.get("kind"):
        stmt = stmt.where(Task.kind == query["kind"])
    if query.get("study"):
        stmt = stmt.where(Task.study_id == query["study"])
    if "overdue" in query:
        stmt = stmt.where(Task.overdue if query["overdue"] else ~Task.overdue)
    if query.get("after"):
        _value, task_id = decode_cursor(query["after"], "int")
        stmt = stmt.where(Task.id > task_id)
    limit = query["limit"]
    rows = list(db.session.scalars(stmt.order_by(Task.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next": encode_cursor(rows[-1].id, rows[-1].id) if more else None}

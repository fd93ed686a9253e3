"""My tasks (every user's landing list, also on the dashboard) and the managers' team view:
allow-listed filters (kind, study, due), keyset pages, links to each record and action."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask import current_app, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import func, select, tuple_

from core.db import db
from core.permissions import has_permission
from core.studies import Study
from core.tasks.models import Task, today
from core.tasks.service import TEAM_PERMISSION, tasks_for

PAGE_SIZE = 50
DASHBOARD_ROWS = 8
NO_DUE = date(9999, 12, 31)  # sorts tasks without a due date last
DUE_FILTERS = {"overdue": "Overdue", "week": "Due within 7 days", "none": "No due date"}
ALLOWED_PARAMS = {"kind", "study", "due", "after"}
AFTER_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d{1,18})$")
SORT_DUE = func.coalesce(Task.due, NO_DUE)


class FilterError(ValueError):
    """A filter the list cannot apply: shown above the form with 400, never a stack trace."""


def _filtered(stmt: Any, args: Any) -> Any:
    unknown = set(args) - ALLOWED_PARAMS
    if unknown:
        raise FilterError(f"Unknown filter: {', '.join(sorted(unknown))}")
    kind = args.get("kind", "").strip()
    if kind:
        if len(kind) > 64:
            raise FilterError("kind: at most 64 characters")
        stmt = stmt.where(Task.kind == kind)
    study = args.get("study", "").strip()
    if study:
        if not study.isdigit() or len(study) > 18:
            raise FilterError("study: choose a study from the list")
        stmt = stmt.where(Task.study_id == int(study))
    due = args.get("due", "").strip()
    if due and due not in DUE_FILTERS:
        raise FilterError(f"due: one of {', '.join(DUE_FILTERS)}")
    if due == "overdue":
        stmt = stmt.where(Task.overdue)
    elif due == "week":
        stmt = stmt.where(Task.due.is_not(None), Task.due <= today() + timedelta(days=7))
    elif due == "none":
        stmt = stmt.where(Task.due.is_(None))
    return stmt


def _after(raw: str) -> tuple[date, int] | None:
    if not raw:
        return None
    match = AFTER_RE.match(raw)
    try:
        return (date.fromisoformat(match[1]), int(match[2])) if match else None  # type: ignore[return-value]
    except ValueError:
        return None


def task_row(task: Task) -> dict[str, Any]:
    """What a list shows of a task: its record and action links (record pages are the admin
    details pages the core builds per record type)."""
    record = task.record
    endpoints = current_app.extensions["cqms"].admin_endpoints
    record_url = None
    if record is not None and record.type in endpoints:
        record_url = url_for(f"{record.type}.details_view", id=record.id)
    action_url, action_label = record_url, "Open"
    if task.action.startswith("/"):
        action_url, action_label = task.action, "Open"
    elif task.action:
        action_label = task.action.replace("_", " ").capitalize()
        if record_url:
            action_url = f"{record_url}#transition-{task.action}"
    return {"task": task, "record": record, "record_url": record_url, "action_url": action_url,
            "action_label": action_label, "overdue": task.overdue}


def ordered(stmt: Any) -> Any:
    return stmt.order_by(SORT_DUE, Task.id)


def my_tasks_summary(user: Any) -> dict[str, Any]:
    """The dashboard's top card: the first open tasks (overdue and soonest due first)."""
    rows = list(db.session.scalars(ordered(tasks_for(user)).limit(DASHBOARD_ROWS + 1)))
    return {"rows": [task_row(t) for t in rows[:DASHBOARD_ROWS]], "more": len(rows) > DASHBOARD_ROWS,
            "team": has_permission(user, TEAM_PERMISSION)}


class TaskListView(BaseView):
    include_team = False
    heading = "My tasks"
    intro = ("Open tasks assigned to you, or to a role you hold for the task's study or site. "
             "A task closes when its action is done on the record.")

    @expose("/")
    def index(self) -> Any:
        user = current_user._get_current_object()
        base = tasks_for(user, include_team=self.include_team)
        args = {k: v for k, v in request.args.items() if k != "after" and v}
        try:
            stmt = _filtered(base, request.args)
            after = _after(request.args.get("after", ""))
            if request.args.get("after") and after is None:
                raise FilterError("after: not a page marker of this list")
        except FilterError as exc:
            return self._render(user, base, [], args, None, str(exc)), 400
        if after is not None:
            stmt = stmt.where(tuple_(SORT_DUE, Task.id) > tuple_(after[0], after[1]))
        tasks = list(db.session.scalars(ordered(stmt).limit(PAGE_SIZE + 1)))
        more = len(tasks) > PAGE_SIZE
        tasks = tasks[:PAGE_SIZE]
        next_after = None
        if more:
            last = tasks[-1]
            next_after = f"{(last.due or NO_DUE).isoformat()}.{last.id}"
        return self._render(user, base, tasks, args, next_after, "")

    def _render(self, user: Any, base: Any, tasks: list[Task], args: dict[str, str],
                next_after: str | None, error: str) -> Any:
        visible = base.subquery()
        kinds = db.session.scalars(select(visible.c.kind).distinct().order_by(visible.c.kind))
        studies = db.session.scalars(
            select(Study).where(Study.id.in_(select(visible.c.study_id))).order_by(Study.code))
        return self.render("core/admin/tasks.html", rows=[task_row(t) for t in tasks],
                           args=args, next_after=next_after, error=error, kinds=list(kinds),
                           studies=list(studies), due_filters=DUE_FILTERS, heading=self.heading,
                           intro=self.intro, team=self.include_team)


class MyTasksView(TaskListView):
    pass


class TeamTasksView(TaskListView):
    include_team = True
    heading = "Team tasks"
    intro = ("Every open task in the studies and sites where you hold the team view, with whom "
             "it is assigned to, besides your own.")

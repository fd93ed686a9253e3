"""The dashboard (admin index): widgets contributed by plugins, filtered by permission."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_admin import AdminIndexView, expose
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from core.admin.tasks import my_tasks_summary
from core.db import db
from core.permissions import has_permission
from core.users.models import User


def account_context(user: Any) -> dict[str, Any]:
    return {"user": user, "assignments": user.active_assignments()}


def system_context(_user: Any) -> dict[str, Any]:
    state = current_app.extensions["cqms"]
    people = select(func.count()).select_from(User).where(User.is_service.is_(False))
    return {
        "users": db.session.scalar(people.where(User.active.is_(True))),
        "locked": db.session.scalar(people.where(User.locked_at.is_not(None))),
        "enabled": state.host.enabled_keys(),
        "allowed": [k for k in state.host.plugins if k != "core"],
    }


class DashboardView(AdminIndexView):
    @expose("/")
    def index(self) -> Any:
        state = current_app.extensions["cqms"]
        cards = []
        for plugin, widget in sorted(state.registry.widgets, key=lambda w: w[1].order):
            if not state.host.is_enabled(plugin) or not has_permission(current_user, widget.permission):
                continue
            body = render_template(widget.template, **widget.context(current_user))
            cards.append({"key": widget.key, "title": widget.title, "body": Markup(body)})
        # The landing page after sign-in: the user's open tasks come first.
        return self.render("core/dashboard.html", cards=cards,
                           my_tasks=my_tasks_summary(current_user))

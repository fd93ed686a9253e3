"""The user's notifications: newest first, unread marked, mark one or all as read. The unread
count appears in the navigation bar of every admin page."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

from core.admin.base import SecureForm
from core.db import db
from core.notifications.models import Notification
from core.notifications.service import UNREAD_CAP, mark_read, notifications_of, unread_count

PAGE_SIZE = 50


def unread_for_current_user() -> str:
    """The navigation badge: "" when nothing is unread, "99+" past the cap."""
    if not current_user.is_authenticated:
        return ""
    count = unread_count(current_user)
    if count >= UNREAD_CAP:
        return f"{UNREAD_CAP - 1}+"
    return str(count) if count else ""


class NotificationsView(BaseView):
    def is_visible(self) -> bool:
        return False  # reached from the bell in the navigation bar, not the menu

    @expose("/")
    def index(self) -> Any:
        before = request.args.get("before", "")
        stmt = notifications_of(current_user)
        if before:
            if not before.isdigit() or len(before) > 18:
                flash("before: expected a notification number", "error")
                return redirect(url_for(".index"))
            stmt = stmt.where(Notification.id < int(before))
        items = list(db.session.scalars(stmt.limit(PAGE_SIZE + 1)))
        more = len(items) > PAGE_SIZE
        items = items[:PAGE_SIZE]
        endpoints = current_app.extensions["cqms"].admin_endpoints
        rows = [{"n": n, "record_url": url_for(f"{n.record.type}.details_view", id=n.record_id)
                 if n.record is not None and n.record.type in endpoints else None}
                for n in items]
        return self.render("core/admin/notifications.html", rows=rows,
                           next_before=items[-1].id if more else None)

    @expose("/<int(max=2147483647):notification_id>/read", methods=["POST"])
    def read(self, notification_id: int) -> Any:
        return self._mark([notification_id])

    @expose("/read-all", methods=["POST"])
    def read_all(self) -> Any:
        return self._mark(None)

    def _mark(self, ids: list[int] | None) -> Any:
        form = SecureForm()
        if not form.validate_on_submit():
            flash("The form expired; try again.", "error")
            return redirect(url_for(".index"))
        count = mark_read(current_user._get_current_object(), ids)
        db.session.commit()
        if ids is None:
            flash(f"{count} marked as read.", "info")
        else:
            flash("Marked as read." if count else "Already read.", "info")
        return redirect(url_for(".index"))

"""Installed plugins: what each is, which hooks it implements, and the audited enable toggle."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, url_for
from flask_admin import BaseView, expose

from core.admin.config_versions import propose_url
from core.admin.users import ReasonForm
from core.db import db
from core.errors import CQMSError
from core.settings import APPROVAL_REQUIRED, get_setting
from core.validation.awaiting import awaiting_validation


class PluginsView(BaseView):
    @expose("/")
    def index(self) -> Any:
        host = current_app.extensions["cqms"].host
        waiting = awaiting_validation()
        rows = [
            {"info": info, "enabled": host.is_enabled(key), "awaiting": waiting.get(key)}
            for key, info in host.plugins.items()
        ]
        return self.render("core/admin/plugins.html", rows=rows, not_allowed=host.not_allowed,
                           form=ReasonForm(), approval_required=get_setting(APPROVAL_REQUIRED),
                           propose_url=propose_url())

    @expose("/<key>/<any(enable, disable):action>", methods=["POST"])
    def toggle(self, key: str, action: str) -> Any:
        host = current_app.extensions["cqms"].host
        form = ReasonForm()
        if not form.validate_on_submit():
            flash("A reason is required to enable or disable a plugin.", "error")
            return redirect(url_for(".index"))
        try:
            changed = host.set_enabled(key, action == "enable", form.reason.data)
            db.session.commit()
        except CQMSError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(f"Plugin {key} {action}d." if changed else f"Plugin {key} was already {action}d.",
                  "info")
        return redirect(url_for(".index"))

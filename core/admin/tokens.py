"""People > API tokens: every user's tokens for administrators, with revocation (reasoned)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user

from core.admin.base import CQMSModelView
from core.admin.users import ReasonForm
from core.audit.context import audit_reason
from core.db import db, utc_text
from core.users.models import ApiToken
from core.users.tokens import revoke_token


def _when(value: Any) -> str:
    return utc_text(value) if value else ""


class TokenAdmin(CQMSModelView):
    manage_permission = "core.users.manage"
    write_views = CQMSModelView.write_views | {"revoke_view"}
    list_template = "core/admin/token_list.html"
    can_view_details = False
    column_list = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at",
                   "revoked_at")
    column_labels = {"prefix": "Starts with", "last_used_at": "Last used", "revoked_at": "Revoked"}
    column_sortable_list = ("created_at", "expires_at", "last_used_at")
    column_default_sort = ("created_at", True)
    column_searchable_list = ("name",)
    column_formatters = {
        "user": lambda v, c, m, n: m.user.username,
        "prefix": lambda v, c, m, n: f"{m.prefix}…",
    }

    @expose("/<int(max=2147483647):token_id>/revoke", methods=["POST"])
    def revoke_view(self, token_id: int) -> Any:
        token = db.session.get(ApiToken, token_id)
        form = ReasonForm()
        if token is None:
            flash("No such token.", "error")
        elif not form.validate_on_submit():
            flash("A reason is required to revoke a token.", "error")
        else:
            with audit_reason(form.reason.data):
                revoke_token(token, current_user._get_current_object())
            db.session.commit()
            flash(f"Token {token.name} of {token.user.username} revoked.", "info")
        return redirect(url_for(".index_view"))

    def render(self, template: str, **kwargs: Any) -> Any:
        kwargs.setdefault("reason_form", ReasonForm())
        kwargs.setdefault("may_manage", self._may_manage())
        return super().render(template, **kwargs)

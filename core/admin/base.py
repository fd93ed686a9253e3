"""Safe defaults for every admin model view: CSRF forms, no delete, reasons, guarded CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import BaseForm
from flask_admin.model import typefmt
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from core.audit.context import audit_reason
from core.errors import CQMSError
from core.permissions import has_permission

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class SecureForm(BaseForm, FlaskForm):
    """Flask-Admin's form behaviour with Flask-WTF's CSRF token (CSRFProtect accepts it).

    Flask-Admin's BaseForm defaults ``formdata`` to None; restore Flask-WTF's default of
    reading the submitted request so ``ReasonForm()`` in a POST view sees the posted fields.
    """

    def __init__(self, formdata: Any = _Auto, obj: Any = None, prefix: str = "", **kwargs: Any):
        super().__init__(formdata, obj, prefix, **kwargs)


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported cells."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def utc_text(value: datetime) -> str:
    """One unambiguous display format for timestamps: ISO date and time in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reason_field(label: str = "Reason for change") -> TextAreaField:
    return TextAreaField(
        label,
        validators=[DataRequired(message="A reason is required."), Length(max=2000)],
        description="Recorded in the audit trail with your name and the time.",
        render_kw={"rows": 2, "class": "cqms-reason"},
    )


class CQMSModelView(ModelView):
    """Base for admin model views. Writing needs ``manage_permission`` and a reason."""

    form_base_class = SecureForm
    manage_permission: str | None = None
    allow_create = False
    allow_edit = False
    can_delete = False
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    page_size = 50
    can_set_page_size = False
    form_extra_fields = {"reason": reason_field()}
    column_display_pk = False
    column_type_formatters = {**typefmt.BASE_FORMATTERS, datetime: lambda _v, t, _n: utc_text(t)}
    column_type_formatters_detail = {
        **typefmt.DETAIL_FORMATTERS, datetime: lambda _v, t, _n: utc_text(t)
    }
    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS, datetime: lambda _v, t, _n: t.isoformat()
    }

    #: View methods that write; users without ``manage_permission`` get 403 (not a redirect).
    write_views: frozenset[str] = frozenset(
        {"create_view", "edit_view", "delete_view", "action_view", "ajax_update"}
    )

    def _may_manage(self) -> bool:
        if self.manage_permission is None:
            return False
        return has_permission(current_user, self.manage_permission)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        response = super()._handle_view(name, **kwargs)
        if response is None and name == "delete_view":
            abort(405)  # never a hard delete: deactivate, revoke or retire instead
        if response is None and name in self.write_views and not self._may_manage():
            abort(403)
        return response

    @property  # type: ignore[override]
    def can_create(self) -> bool:
        return self.allow_create and self._may_manage()

    @property  # type: ignore[override]
    def can_edit(self) -> bool:
        return self.allow_edit and self._may_manage()

    def create_model(self, form: Any) -> Any:
        with audit_reason(form.reason.data or ""):
            return super().create_model(form)

    def update_model(self, form: Any, model: Any) -> Any:
        with audit_reason(form.reason.data or ""):
            return super().update_model(form, model)

    def delete_model(self, model: Any) -> bool:
        flash("Records are never deleted; deactivate or retire them instead.", "error")
        return False

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, CQMSError):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)

    def get_export_value(self, model: Any, name: Any) -> Any:
        return csv_safe(super().get_export_value(model, name))

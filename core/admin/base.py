"""Safe defaults for every admin model view: CSRF forms, no delete, reasons, guarded CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, flash, request
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.form import BaseForm
from flask_admin.model import typefmt
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import TextAreaField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, Length

from core.admin.counting import LIST_COUNT_CAP, CappedCount
from core.audit.context import audit_reason
from core.db import utc_text
from core.errors import CQMSError, ValidationError
from core.exports.audit import audit_export
from core.permissions import has_permission
from core.specs import key_words

MAX_ID = 2**31 - 1  # the primary keys are 32-bit integers on PostgreSQL
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Column-name parts that mark a secret: never exported, whatever a view lists.
SECRET_PARTS = frozenset({"password", "secret", "token", "mac"})


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


def is_secret_column(name: str) -> bool:
    parts = name.lower().split("_")
    return bool(SECRET_PARTS.intersection(parts)) or parts[-1] == "hash"


def reason_field(label: str = "Reason for change") -> TextAreaField:
    return TextAreaField(
        label,
        validators=[DataRequired(message="A reason is required."), Length(max=2000)],
        description="Recorded in the audit trail with your name and the time.",
        render_kw={"rows": 2, "class": "cqms-reason"},
    )


EMPTY_CHOICE = "(none)"


class CQMSModelView(ModelView):
    """Base for admin model views. Writing needs ``manage_permission`` and a reason."""

    form_base_class = SecureForm
    manage_permission: str | None = None
    allow_create = False
    allow_edit = False
    can_delete = False
    can_view_details = True
    # Flask-Admin's GET export is off; ``export_csv_view`` is a POST with a CSRF token (each
    # export writes an audit entry), offered by core/admin/list.html.
    can_export = False
    csv_export = True
    export_types = ["csv"]
    list_template = "core/admin/list.html"
    page_size = 50
    can_set_page_size = False
    form_extra_fields = {"reason": reason_field()}
    column_display_pk = False
    column_type_formatters = {**typefmt.BASE_FORMATTERS, datetime: lambda _v, t, _n: utc_text(t)}
    column_type_formatters_detail = {
        **typefmt.DETAIL_FORMATTERS, datetime: lambda _v, t, _n: utc_text(t)
    }
    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS, datetime: lambda _v, t, _n: t.astimezone(UTC).isoformat()
    }

    #: View methods that write; users without ``manage_permission`` get 403 (not a redirect).
    write_views: frozenset[str] = frozenset(
        {"create_view", "edit_view", "delete_view", "action_view", "ajax_update"}
    )

    #: Lists count matches up to this many; past it they say "more than ..." (issue 13).
    list_count_cap = LIST_COUNT_CAP

    def get_count_query(self) -> Any:
        return CappedCount(super().get_count_query(), self.list_count_cap)

    def scaffold_form(self) -> Any:
        """The model's form, with a readable empty choice in every pick list (Flask-Admin's
        own shows its internal value "__None")."""
        form_class = super().scaffold_form()
        for name in dir(form_class):
            unbound = getattr(form_class, name, None)
            if (isinstance(unbound, UnboundField) and isinstance(unbound.field_class, type)
                    and issubclass(unbound.field_class, QuerySelectField)
                    and not unbound.kwargs.get("blank_text")):
                unbound.kwargs["blank_text"] = EMPTY_CHOICE
        return form_class

    def render(self, template: str, **kwargs: Any) -> Any:
        count = kwargs.get("count")
        if isinstance(count, int) and count > self.list_count_cap:  # see core.admin.counting
            kwargs["count"] = f"more than {self.list_count_cap:,}"
        return super().render(template, **kwargs)

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
        if isinstance(exc, ValidationError) and exc.errors:  # named as the form names them
            labels = self.column_labels or {}
            flash("; ".join(message if name == "_" else
                            f"{labels.get(name) or key_words(name)}: {message}"
                            for name, message in exc.errors.items()), "error")
            return True
        if isinstance(exc, CQMSError):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)

    def get_one(self, id: Any) -> Any:  # noqa: A002 - Flask-Admin's signature
        """None (Flask-Admin answers "does not exist") for an id no row can have: PostgreSQL
        would refuse an integer past its range with an error."""
        text = str(id)
        if not text.isdigit() or int(text) > MAX_ID:
            return None
        return super().get_one(id)

    def get_export_value(self, model: Any, name: Any) -> Any:
        return csv_safe(super().get_export_value(model, name))

    def get_export_columns(self) -> list[tuple[Any, str]]:
        """Exactly the list's columns (what the user sees on the page), never a secret."""
        return [(name, label) for name, label in self.get_list_columns()
                if not is_secret_column(str(name))]

    @expose("/export.csv", methods=["POST"])
    def export_csv_view(self) -> Any:
        if not self.csv_export:
            abort(404)
        return self._export_csv(self.get_url(".index_view"))

    def _export_csv(self, return_url: Any) -> Any:
        """The current filtered list, in the user's scope (``get_query``), as CSV: formulas
        neutralised, times in ISO 8601 with their zone. Audited with its row count, the
        filters and the file's SHA-256 before it is sent."""
        _count, rows = self._export_data()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([csv_safe(str(label)) for _name, label in self._export_columns])
        for row in rows:
            values = (self.get_export_value(row, name) for name, _label in self._export_columns)
            writer.writerow(["" if v is None else csv_safe(str(v)) for v in values])
        data = buffer.getvalue().encode("utf-8")
        query = request.query_string.decode("utf-8", "replace")[:500]
        audit_export("csv", self.model.__tablename__,
                     detail=f"{self.name} list: {len(rows)} rows; filters: {query or 'none'}; "
                            f"sha256 {hashlib.sha256(data).hexdigest()}")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%SZ")
        return Response(data, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{self.endpoint}-{stamp}.csv"',
            "X-Content-Type-Options": "nosniff"})

"""Roles and their permissions: editable by holders of ``core.roles.manage``, every change audited."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from core.admin.base import CQMSModelView, SecureForm, reason_field
from core.audit.context import audit_reason
from core.config_changes.roles import set_role_permissions
from core.db import db
from core.errors import ConflictError
from core.users.models import Permission, Role


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _permissions_in_words(role: Role) -> Markup:
    """"12 permissions", opening to what each one allows (the names are in the title)."""
    known = current_app.extensions["cqms"].registry.permissions
    lines = Markup("").join(
        Markup('<li title="{}">{}</li>').format(name, getattr(known.get(name), "description",
                                                              name))
        for name in role.permission_names)
    count = len(role.permission_names)
    return Markup('<details><summary>{} permission{}</summary><ul class="small mb-0">{}</ul>'
                  "</details>").format(count, "" if count == 1 else "s", lines)


class RoleForm(SecureForm):
    key = StringField("Key", validators=[DataRequired(), Regexp(r"^[a-z][a-z0-9_]{1,63}$",
                      message="Lower-case letters, digits and '_', starting with a letter.")])
    label = StringField("Label", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    permissions = CheckboxesField("Permissions", choices=[])
    reason = reason_field()


class RoleEditForm(RoleForm):
    key = None  # type: ignore[assignment]  # a role's key never changes


class RoleAdmin(CQMSModelView):
    manage_permission = "core.roles.manage"
    allow_create = True
    allow_edit = True
    column_list = ("key", "label", "description", "permission_names")
    column_labels = {"permission_names": "Permissions"}
    column_searchable_list = ("key", "label")
    column_sortable_list = ("key", "label")
    column_default_sort = "key"
    column_details_list = ("key", "label", "description", "permission_names", "created_at")
    column_formatters = {"permission_names": lambda v, c, m, n: _permissions_in_words(m)}
    column_formatters_export = {"permission_names": lambda v, c, m, n: ", ".join(
        m.permission_names)}

    def get_create_form(self) -> Any:
        return RoleForm

    def get_edit_form(self) -> Any:
        return RoleEditForm

    def _permission_choices(self) -> list[tuple[str, str]]:
        rows = db.session.scalars(select(Permission).order_by(Permission.name))
        return [(p.name, f"{p.name}: {p.description}") for p in rows]

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        form.permissions.choices = self._permission_choices()
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        form.permissions.choices = self._permission_choices()
        if obj is not None and not form.is_submitted():
            form.permissions.data = obj.permission_names
        return form

    def _save(self, form: Any, role: Role) -> Any:
        known = set(current_app.extensions["cqms"].registry.permissions)
        names = set(form.permissions.data or [])
        if not names <= known:
            flash("Unknown permission selected.", "error")
            return False
        try:
            with audit_reason(form.reason.data):
                role.label = form.label.data.strip()
                role.description = (form.description.data or "").strip()
                set_role_permissions(role, names)
                db.session.flush()
        except ConflictError as exc:  # approval required: offered "propose a change"
            db.session.rollback()
            flash(str(exc), "error")
            return False
        db.session.commit()
        return role

    def create_model(self, form: Any) -> Any:
        key = form.key.data.strip()
        if db.session.scalar(select(Role).where(Role.key == key)) is not None:
            form.key.errors = [*form.key.errors, f"A role with key {key!r} exists."]
            return False
        role = Role(key=key, label=form.label.data.strip())
        with audit_reason(form.reason.data):
            db.session.add(role)
            db.session.flush()
        return self._save(form, role)

    def update_model(self, form: Any, model: Role) -> Any:
        return self._save(form, model)

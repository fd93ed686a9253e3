"""Users and role assignments: created, changed, deactivated and revoked only through services."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEmpty
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.admin.base import CQMSModelView, SecureForm, reason_field
from core.db import db
from core.errors import CQMSError, ValidationError
from core.studies import Site, Study
from core.users import service
from core.users.devices import reverify_due_at, reverify_overdue
from core.users.models import Role, User, UserRole


def authenticator_status(user: User) -> str:
    """"none", "verified <date>", or "re-verification overdue (since <date>)" (P11-28)."""
    if user.totp_enabled_at is None:
        return "none"
    if reverify_overdue(user):
        return f"re-verification overdue (since {reverify_due_at(user):%Y-%m-%d})"
    return f"verified {user.totp_last_verified:%Y-%m-%d}"


class UserCreateForm(SecureForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)],
                           description="Unique forever; cannot be changed or reused.")
    full_name = StringField("Printed full name", validators=[DataRequired(), Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Length(max=254)])
    initial_password = PasswordField(
        "Initial password", validators=[DataRequired()],
        description="The user must choose a new password at first sign-in.",
    )
    reason = reason_field()


class UserEditForm(SecureForm):
    full_name = StringField("Printed full name", validators=[DataRequired(), Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Length(max=254)])
    reason = reason_field()


class ReasonForm(SecureForm):
    reason = TextAreaField("Reason", validators=[DataRequired(message="A reason is required."),
                                                 Length(max=2000)])


class UserAdmin(CQMSModelView):
    manage_permission = "core.users.manage"
    allow_create = True
    allow_edit = True
    write_views = CQMSModelView.write_views | {"deactivate_view", "reactivate_view", "unlock_view",
                                               "verify_identity_view"}
    details_template = "core/admin/user_details.html"
    column_list = ("username", "full_name", "email", "roles", "active", "locked_at",
                   "last_login_at", "authenticator")
    column_labels = {"full_name": "Printed name", "locked_at": "Locked", "last_login_at": "Last sign-in"}
    column_formatters = {"roles": lambda _v, _c, user, _n: "; ".join(
        f"{a.role.label} ({a.scope_label})" for a in user.active_assignments()) or "none",
        "authenticator": lambda _v, _c, user, _n: authenticator_status(user)}
    column_formatters_export = column_formatters
    column_searchable_list = ("username", "full_name", "email")
    column_sortable_list = ("username", "full_name", "last_login_at")
    column_filters = ("active",)
    column_default_sort = "username"
    column_details_list = (
        "username", "full_name", "email", "active", "locked_at", "last_login_at",
        "password_changed_at", "totp_enabled_at", "deactivated_at", "created_at",
    )

    def get_query(self) -> Any:
        return (super().get_query().filter(User.is_service.is_(False))
                .options(selectinload(User.assignments)))

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(User.is_service.is_(False))

    def get_create_form(self) -> Any:
        return UserCreateForm

    def get_edit_form(self) -> Any:
        return UserEditForm

    def create_model(self, form: Any) -> Any:
        try:
            user = service.create_user(
                form.username.data, form.full_name.data, form.email.data or "",
                form.initial_password.data, must_change_password=True, reason=form.reason.data,
            )
            db.session.commit()
            return user
        except ValidationError as exc:
            db.session.rollback()
            for field, message in exc.errors.items():
                target = getattr(form, "initial_password" if field == "password" else field, None)
                if target is not None:
                    target.errors = [*target.errors, message]
            flash("The user was not created: correct the fields shown.", "error")
            return False

    def update_model(self, form: Any, model: User) -> Any:
        errors = {}
        if not form.full_name.data.strip():
            errors["full_name"] = "The printed full name is required."
        email = (form.email.data or "").strip()
        if email and not service.EMAIL_RE.match(email):
            errors["email"] = "Enter a valid e-mail address."
        if errors:
            for field, message in errors.items():
                getattr(form, field).errors = [*getattr(form, field).errors, message]
            return False
        return super().update_model(form, model)

    def _user_action(self, user_id: int, action: str) -> Any:
        user = db.session.get(User, user_id)
        back = url_for(".details_view", id=user_id)
        if not self._may_manage():
            abort(403)
        if user is None or user.is_service:
            abort(404)
        form = ReasonForm()
        if not form.validate_on_submit():
            flash("A reason is required.", "error")
            return redirect(back)
        try:
            if action == "deactivate":
                if user.id == current_user.id:
                    raise ValidationError("You cannot deactivate your own account.")
                service.deactivate(user, reason=form.reason.data)
            elif action == "reactivate":
                service.reactivate(user, reason=form.reason.data)
            elif action == "verify identity":
                service.verify_identity(user, current_user, reason=form.reason.data)
            else:
                service.unlock(user, reason=form.reason.data)
            db.session.commit()
            flash(f"{user.username}: {action} done.", "info")
        except CQMSError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        return redirect(back)

    @expose("/<int(max=2147483647):user_id>/deactivate", methods=["POST"])
    def deactivate_view(self, user_id: int) -> Any:
        return self._user_action(user_id, "deactivate")

    @expose("/<int(max=2147483647):user_id>/reactivate", methods=["POST"])
    def reactivate_view(self, user_id: int) -> Any:
        return self._user_action(user_id, "reactivate")

    @expose("/<int(max=2147483647):user_id>/verify-identity", methods=["POST"])
    def verify_identity_view(self, user_id: int) -> Any:
        return self._user_action(user_id, "verify identity")

    @expose("/<int(max=2147483647):user_id>/unlock", methods=["POST"])
    def unlock_view(self, user_id: int) -> Any:
        return self._user_action(user_id, "unlock")

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.details_template and "model" in kwargs:
            kwargs["reason_form"] = ReasonForm()
            kwargs["may_manage"] = self._may_manage()
            verifier = kwargs["model"].identity_verified_by_id
            kwargs["verified_by"] = db.session.get(User, verifier) if verifier else None
            kwargs["authenticator"] = authenticator_status(kwargs["model"])
        return super().render(template, **kwargs)


def _choices(model: Any, label: Any, empty: str | None = None) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(model)).all()
    choices = [(str(r.id), label(r)) for r in rows]
    return ([("", empty)] if empty is not None else []) + choices


class AssignmentForm(SecureForm):
    user_id = SelectField("User", validators=[DataRequired()])
    role_id = SelectField("Role", validators=[DataRequired()])
    study_id = SelectField("Study scope", validators=[Optional()])
    site_id = SelectField("Site scope", validators=[Optional()],
                          description="Leave both empty for a role across all studies.")
    reason = reason_field("Reason for granting")


class AssignmentAdmin(CQMSModelView):
    manage_permission = "core.users.manage"
    allow_create = True
    write_views = CQMSModelView.write_views | {"revoke_view"}
    list_template = "core/admin/assignment_list.html"
    column_list = ("user", "role", "study", "site", "granted_at", "revoked_at")
    column_labels = {"study": "Study scope", "site": "Site scope", "revoked_at": "Revoked"}
    column_filters = (FilterEmpty(UserRole.revoked_at, "Revoked"),)
    column_sortable_list = ("granted_at", "revoked_at")
    column_default_sort = ("granted_at", True)
    column_formatters = {
        "user": lambda v, c, m, n: m.user.username,
        "role": lambda v, c, m, n: m.role.key,
        "study": lambda v, c, m, n: m.study.code if m.study else "",
        "site": lambda v, c, m, n: m.site.audit_label() if m.site else "",
    }
    column_formatters_export = column_formatters

    def get_create_form(self) -> Any:
        return AssignmentForm

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        people = [(str(u.id), u.printed_name) for u in db.session.scalars(
            select(User).where(User.is_service.is_(False), User.active.is_(True)).order_by(User.username))]
        form.user_id.choices = people
        form.role_id.choices = _choices(Role, lambda r: f"{r.label} ({r.key})")
        form.study_id.choices = _choices(Study, lambda s: s.code, "(all studies)")
        form.site_id.choices = _choices(Site, lambda s: str(s), "(all sites)")
        if request.method == "GET" and request.args.get("user_id"):
            form.user_id.data = request.args["user_id"]
        return form

    def create_model(self, form: Any) -> Any:
        try:
            user = db.session.get(User, int(form.user_id.data))
            role = db.session.get(Role, int(form.role_id.data))
            study = db.session.get(Study, int(form.study_id.data)) if form.study_id.data else None
            site = db.session.get(Site, int(form.site_id.data)) if form.site_id.data else None
            if user is None or role is None:
                raise ValidationError("Choose a user and a role.")
            assignment = service.assign_role(
                user, role, reason=form.reason.data, study=study, site=site,
                granted_by=current_user._get_current_object(),
            )
            db.session.commit()
            return assignment
        except (CQMSError, ValueError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return False

    @expose("/<int(max=2147483647):assignment_id>/revoke", methods=["POST"])
    def revoke_view(self, assignment_id: int) -> Any:
        back = url_for(".index_view")
        assignment = db.session.get(UserRole, assignment_id)
        form = ReasonForm()
        if assignment is None or not self._may_manage():
            flash("You cannot revoke this assignment.", "error")
        elif not form.validate_on_submit():
            flash("A reason is required to revoke a role.", "error")
        else:
            try:
                service.revoke_assignment(
                    assignment, reason=form.reason.data, revoked_by=current_user._get_current_object()
                )
                db.session.commit()
                flash(f"Revoked {assignment}.", "info")
            except CQMSError as exc:
                db.session.rollback()
                flash(str(exc), "error")
        return redirect(back)

    def render(self, template: str, **kwargs: Any) -> Any:
        kwargs.setdefault("reason_form", ReasonForm())
        kwargs.setdefault("may_manage", self._may_manage())
        return super().render(template, **kwargs)

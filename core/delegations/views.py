"""``/account/delegations``: record an absence with a delegate (yourself, or anyone for a user
administrator), see the delegations you gave or hold, end one early."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.db import db
from core.delegations.models import Delegation
from core.delegations.service import (
    delegations_of,
    end_delegation,
    may_manage,
    recent_delegations,
    record_absence,
    today,
)
from core.errors import CQMSError, ValidationError
from core.permissions import has_permission, login_only
from core.users.models import User

blueprint = Blueprint("core_delegations", __name__)


class AbsenceForm(FlaskForm):
    absent = SelectField("Absent person", validators=[Optional()])
    delegate = SelectField("Delegate (signs your steps with their own signature, on your "
                           "behalf)", validators=[Optional()])
    starts_on = DateField("First day of the absence", validators=[Optional()])
    ends_on = DateField("Last day of the absence", validators=[Optional()])
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})


class EndDelegationForm(FlaskForm):
    reason = TextAreaField("Reason for ending it",
                           validators=[DataRequired(message="Give a reason."), Length(max=2000)],
                           render_kw={"rows": 1})


def _people() -> list[User]:
    return list(db.session.scalars(select(User).where(
        User.active.is_(True), User.is_service.is_(False)).order_by(User.username)))


def _person(user_id: Any) -> User | None:
    return User.by_id(user_id) if user_id else None


@blueprint.route("/account/delegations", methods=["GET", "POST"])
@login_only
def delegations() -> Any:
    me = current_user._get_current_object()
    admin = has_permission(me, "core.users.manage")
    choices = [(str(u.id), u.printed_name) for u in _people()]
    form = AbsenceForm()
    form.delegate.choices = [("", "choose a person"), *[c for c in choices if c[0] != str(me.id)
                                                        or admin]]
    form.absent.choices = choices if admin else [(str(me.id), me.printed_name)]
    if request.method == "GET":
        form.absent.data = request.args.get("absent") if admin else str(me.id)
    if form.validate_on_submit():
        absent = _person(form.absent.data) if admin else me
        try:
            record_absence(absent, _person(form.delegate.data), form.starts_on.data,
                           form.ends_on.data, form.reason.data or "", me)
            db.session.commit()
            flash("Absence recorded: the delegate can sign your open steps during it, on your "
                  "behalf.", "info")
            return redirect(url_for(".delegations"))
        except ValidationError as exc:
            db.session.rollback()
            for name, message in exc.errors.items():
                target = getattr(form, name, None)
                if target is not None:
                    target.errors = [*target.errors, message]
                else:
                    flash(message, "error")
        except CQMSError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    elif request.method == "POST":
        for name, messages in form.errors.items():
            flash(f"{getattr(form, name).label.text}: {' '.join(messages)}", "error")
    return render_template("core/delegations.html", form=form, end_form=EndDelegationForm(),
                           rows=recent_delegations() if admin else delegations_of(me),
                           admin=admin, today=today())


@blueprint.post("/account/delegations/<int:delegation_id>/end")
@login_only
def end(delegation_id: int) -> Any:
    me = current_user._get_current_object()
    row = db.session.get(Delegation, delegation_id)
    if row is None or not (may_manage(me, row.absent) or row.delegate_id == me.id):
        abort(404)
    form = EndDelegationForm()
    if not form.validate_on_submit():
        flash("Give a reason for ending the delegation.", "error")
        return redirect(url_for(".delegations"))
    try:
        end_delegation(row, me, form.reason.data)
        db.session.commit()
        flash("Delegation ended.", "info")
    except CQMSError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".delegations"))

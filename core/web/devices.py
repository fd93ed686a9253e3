"""``/account/authenticator``: the user re-verifies their enrolled authenticator by entering a
current code (periodic testing of devices, 21 CFR 11.300(e))."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user

from core.db import db
from core.errors import ValidationError
from core.permissions import login_only
from core.users.auth import LOGIN_FAILED
from core.users.devices import reverify, reverify_due_at, reverify_overdue
from core.web.forms import TotpEnrolForm

blueprint = Blueprint("core_devices", __name__)


@blueprint.route("/account/authenticator", methods=["GET", "POST"])
@login_only
def authenticator() -> Any:
    user = current_user._get_current_object()
    if user.totp_enabled_at is None:
        flash("You have no authenticator enrolled.", "info")
        return redirect(url_for("core_auth.totp_enrol"))
    form = TotpEnrolForm()
    if form.validate_on_submit():
        try:
            reverify(user, form.code.data)
        except ValidationError as exc:
            db.session.commit()  # keep the failed attempt (it counts towards lockout)
            if user.is_locked:
                logout_user()
                flash(LOGIN_FAILED, "error")
                return redirect(url_for("core_auth.login"))
            form.code.errors = [*form.code.errors, exc.errors.get("code", str(exc))]
        else:
            db.session.commit()
            flash("Authenticator re-verified.", "info")
            return redirect(url_for(".authenticator"))
    return render_template("core/authenticator.html", form=form, user=user,
                           due=reverify_due_at(user), overdue=reverify_overdue(user))

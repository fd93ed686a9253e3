"""Sign-in, sign-out, password change and TOTP enrolment pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pyotp
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from core import rate_limits
from core.audit.context import audit_reason
from core.audit.service import record_event
from core.db import db, utcnow
from core.errors import RateLimited, ValidationError
from core.permissions import login_only, public
from core.settings import get_setting
from core.users.auth import LOGIN_FAILED, authenticate, end_session, start_session, verify_totp
from core.users.service import change_own_password
from core.web.forms import ChangePasswordForm, LoginForm, TotpEnrolForm

blueprint = Blueprint("core_auth", __name__)
TOTP_PENDING_KEY = "cqms_totp_pending"


def safe_next(target: str | None, default: str) -> str:
    """Only same-origin paths are followed after sign-in (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            rate_limits.check("sign_in", rate_limits.client_address())
        except RateLimited as exc:
            flash(str(exc), "error")
            page = render_template("core/login.html", form=form,
                                   notice=get_setting("core.login_notice"))
            return page, 429, {"Retry-After": str(exc.retry_after)}
        user = authenticate(form.username.data, form.password.data, form.totp.data)
        if user is None:
            db.session.commit()  # keep failure counts, lockout and their audit entries
            flash(LOGIN_FAILED, "error")
            return render_template("core/login.html", form=form, notice=get_setting("core.login_notice")), 200
        start_session(user)
        login_user(user)
        db.session.commit()
        return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
    return render_template("core/login.html", form=form, notice=get_setting("core.login_notice"))


@blueprint.post("/logout")
@login_only
def logout() -> Any:
    end_session(current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("core_auth.login"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_only
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_own_password(
                current_user._get_current_object(), form.current_password.data, form.new_password.data
            )
        except ValidationError as exc:
            if "current_password" in exc.errors:
                db.session.commit()  # keep the failed attempt (it counts towards lockout)
            else:
                db.session.rollback()
            if current_user.is_locked:
                logout_user()
                flash(LOGIN_FAILED, "error")
                return redirect(url_for("core_auth.login"))
            for field, message in exc.errors.items():
                target = form.new_password if field == "password" else form.current_password
                target.errors = [*target.errors, message]
        else:
            db.session.commit()
            logout_user()
            flash("Password changed. Sign in again with the new password.", "info")
            return redirect(url_for("core_auth.login"))
    return render_template("core/change_password.html", form=form)


@blueprint.route("/account/totp", methods=["GET", "POST"])
@login_only
def totp_enrol() -> Any:
    user = current_user._get_current_object()
    if user.totp_enabled_at is not None:
        flash("Your authenticator is already enrolled.", "info")
        return redirect(url_for("admin.index"))
    secret = session.get(TOTP_PENDING_KEY)
    if not secret:
        secret = session[TOTP_PENDING_KEY] = pyotp.random_base32()
    form = TotpEnrolForm()
    if form.validate_on_submit():
        user.totp_secret = secret
        if verify_totp(user, form.code.data):
            with audit_reason("TOTP enrolled by the user"):
                user.totp_enabled_at = utcnow()
                record_event("totp.enrolled", "core_user", user.id)
                db.session.flush()
            db.session.commit()
            session.pop(TOTP_PENDING_KEY, None)
            flash("Authenticator enrolled: enter its code at every sign-in.", "info")
            return redirect(url_for("admin.index"))
        db.session.rollback()
        form.code.errors = [*form.code.errors, "The code does not match; check the clock of your device."]
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=get_setting("core.site_name"))
    return render_template("core/totp_enrol.html", form=form, secret=secret, uri=uri)

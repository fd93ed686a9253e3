"""``/account/tokens``: a user's personal API tokens (create with the password, see once,
revoke)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user

from core.db import db
from core.errors import CQMSError, ValidationError
from core.permissions import login_only
from core.users.auth import LOGIN_FAILED, register_failure
from core.users.models import ApiToken
from core.users.passwords import verify_password
from core.users.tokens import check_token_holder, issue_token, revoke_token, tokens_of
from core.web.forms import NewTokenForm, RevokeTokenForm

blueprint = Blueprint("core_tokens", __name__)


@blueprint.route("/account/tokens", methods=["GET", "POST"])
@login_only
def tokens() -> Any:
    user = current_user._get_current_object()
    form = NewTokenForm()
    secret = None
    if form.validate_on_submit():
        if not verify_password(user.password_hash, form.password.data):
            register_failure(user, "password")
            db.session.commit()  # counts towards lockout
            if user.is_locked:
                logout_user()
                flash(LOGIN_FAILED, "error")
                return redirect(url_for("core_auth.login"))
            form.password.errors = [*form.password.errors, "The password is not correct."]
        else:
            try:
                check_token_holder(user)
                _row, secret = issue_token(user, form.name.data, form.days.data)
                db.session.commit()
            except ValidationError as exc:
                db.session.rollback()
                form.days.errors = [*form.days.errors, *exc.errors.values()]
            except CQMSError as exc:
                db.session.rollback()
                flash(str(exc), "error")
    return render_template("core/tokens.html", form=form, secret=secret, tokens=tokens_of(user),
                           revoke_form=RevokeTokenForm())


@blueprint.route("/account/tokens/<int(max=2147483647):token_id>/revoke", methods=["POST"])
@login_only
def revoke(token_id: int) -> Any:
    user = current_user._get_current_object()
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or not RevokeTokenForm().validate_on_submit():
        abort(404)
    revoke_token(row, user)
    db.session.commit()
    flash(f"Token {row.name} revoked.", "info")
    return redirect(url_for(".tokens"))

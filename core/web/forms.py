"""Sign-in and account forms (CSRF-protected through Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    totp = StringField("Authenticator code (if enrolled)", validators=[Optional(), Length(max=10)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class TotpEnrolForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(max=10)])


class NewTokenForm(FlaskForm):
    name = StringField("Name (what the token is for)", validators=[DataRequired(), Length(max=100)])
    days = IntegerField("Valid for (days)", validators=[DataRequired(), NumberRange(1, 3650)],
                        default=30)
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)])


class RevokeTokenForm(FlaskForm):
    pass

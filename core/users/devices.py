"""Periodic testing of sign-in devices (21 CFR 11.300(e), P11-28): an enrolled authenticator is
re-verified by its user (a current code entered) at least every ``core.mfa_reverify_days``;
enrolment counts as a verification. Overdue devices are flagged on the user page, in the user
list and in user-access reviews."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.audit.context import acting_as, audit_reason
from core.audit.service import record_event
from core.db import db, utcnow
from core.errors import ValidationError
from core.settings import get_setting
from core.users.auth import register_failure, verify_totp
from core.users.models import User

REVERIFY_SETTING = "core.mfa_reverify_days"


def reverify_due_at(user: User) -> datetime | None:
    """When the user's authenticator must next be re-verified (None: none enrolled)."""
    last = user.totp_last_verified
    if last is None:
        return None
    return last + timedelta(days=int(get_setting(REVERIFY_SETTING)))


def reverify_overdue(user: User, now: datetime | None = None) -> bool:
    due = reverify_due_at(user)
    return due is not None and (now or utcnow()) > due


def reverify(user: User, code: str | None) -> None:
    """Record a re-verification when ``code`` is a current code of the user's authenticator;
    a wrong code counts towards lockout like a failed sign-in. The caller commits (also after
    a failure, to keep the count)."""
    if user.totp_enabled_at is None:
        raise ValidationError({"code": "You have no authenticator enrolled."})
    if not verify_totp(user, code):
        register_failure(user, "totp")
        raise ValidationError({"code": "The code does not match; check the clock of your "
                                       "device."})
    with acting_as(user), audit_reason("authenticator re-verified by its user"):
        user.totp_verified_at = utcnow()
        record_event("totp.reverified", "core_user", user.id, actor=user)
        db.session.flush()

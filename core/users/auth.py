"""Sign-in, lockout and server-side sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

import pyotp
from flask import current_app, request, session
from sqlalchemy import select

from core.audit.context import audit_context
from core.audit.service import record_event
from core.db import db, utcnow
from core.users.models import User, UserSession
from core.users.passwords import verify_password
from core.users.service import end_sessions, ensure_system_user, get_user

# One message for unknown user, wrong password, wrong code and locked account.
LOGIN_FAILED = "Sign-in failed: unknown username, wrong password or code, or a locked account."
# Blunts online guessing; applied to every failure so timing does not reveal the cause.
FAILURE_DELAY_SECONDS = 0.05
SEEN_KEY = "cqms_seen"
API_PATH = "/api/"


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _system_record(action: str, entity_id: object, **kwargs: object) -> None:
    system = ensure_system_user()
    with audit_context(actor_id=system.id, actor_name=system.printed_name):
        record_event(action, "core_user", entity_id, **kwargs)  # type: ignore[arg-type]


def verify_totp(user: User, code: str | None) -> bool:
    """Accept a code of the current or an adjacent 30 s step, once: a step used before (by a
    sign-in or an enrolment) is refused, so an observed code cannot be replayed."""
    code = (code or "").strip().replace(" ", "")
    if not user.totp_secret or not code:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now_step = int(time.time()) // totp.interval
    last = user.totp_last_step if user.totp_last_step is not None else -1
    for step in (now_step - 1, now_step, now_step + 1):
        if step > last and hmac.compare_digest(totp.at(step * totp.interval), code):
            user.totp_last_step = step
            return True
    return False


def register_failure(user: User, cause: str) -> None:
    """Count a failed credential check (sign-in or password re-entry), audit it, and lock the
    account at the configured threshold. The caller commits."""
    if not user.is_locked and user.active:
        user.failed_logins += 1
    _system_record("login.failed", user.id, field="cause", new=cause)
    threshold = current_app.config["LOCKOUT_THRESHOLD"]
    if not user.is_locked and user.failed_logins >= threshold:
        system = ensure_system_user()
        with audit_context(
            actor_id=system.id,
            actor_name=system.printed_name,
            reason=f"{user.failed_logins} consecutive failed credential checks",
        ):
            user.locked_at = utcnow()
            record_event("account.locked", "core_user", user.id)
            end_sessions(user, "locked")
            db.session.flush()


def authenticate(username: str, password: str, totp_code: str | None = None) -> User | None:
    """Check credentials, count failures, lock at the threshold; audit every outcome.

    The caller commits. Returns the user on success, ``None`` on any failure (one message).
    """
    user = get_user((username or "").strip())
    if user is None or user.is_service:
        verify_password(None, password or "")
        _system_record("login.failed", "", field="username", new=(username or "")[:64])
        time.sleep(FAILURE_DELAY_SECONDS)
        return None
    password_ok = verify_password(user.password_hash, password or "")
    totp_ok = user.totp_enabled_at is None or verify_totp(user, totp_code)
    if user.is_locked or not user.active or not password_ok or not totp_ok:
        why = (
            "locked" if user.is_locked else "inactive" if not user.active
            else "password" if not password_ok else "totp"
        )
        register_failure(user, why)
        time.sleep(FAILURE_DELAY_SECONDS)
        return None
    user.failed_logins = 0
    user.last_login_at = utcnow()
    record_event("login.succeeded", "core_user", user.id, actor=user)
    return user


def start_session(user: User) -> str:
    """Create a fresh server-side session (new id at every login) and return its token."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            id=_token_id(token),
            user_id=user.id,
            ip=(request.remote_addr or "")[:64],
            user_agent=(request.user_agent.string or "")[:255],
        )
    )
    user.session_token = token
    session.clear()
    session.permanent = True
    session[SEEN_KEY] = int(time.time())
    return token


def load_session_user(token: str) -> User | None:
    """Flask-Login's loader: the user of a live session, or None (ended, timed out, inactive).
    The API takes bearer tokens only: a session cookie sent there is ignored (so no request
    forged in a browser can act through the API)."""
    if request.path.startswith(API_PATH):
        return None
    row = db.session.get(UserSession, _token_id(token))
    if row is None or row.ended_at is not None:
        return None
    cfg = current_app.config
    now = utcnow()
    if now - row.created_at > timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]):
        return None
    seen = session.get(SEEN_KEY)
    if not isinstance(seen, int) or time.time() - seen > cfg["SESSION_IDLE_MINUTES"] * 60:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    user.session_token = token
    return user


def touch_session() -> None:
    """Slide the idle timeout on each authenticated request (kept in the signed cookie)."""
    if not request.path.startswith(API_PATH):
        session[SEEN_KEY] = int(time.time())


def end_session(user: User, why: str = "logout") -> None:
    if user.session_token:
        row = db.session.get(UserSession, _token_id(user.session_token))
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
            row.end_reason = why
    record_event("logout", "core_user", user.id, actor=user)
    session.clear()


def open_sessions(user: User) -> list[UserSession]:
    stmt = select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    return list(db.session.scalars(stmt))

"""Issuing, resolving and revoking API tokens.

A token is ``cqms_`` + 43 random URL-safe characters; only its SHA-256 is stored (a fast hash
suffices for 256 random bits). Issuing one is a sign-in: the same lockout, TOTP and
password-change rules apply, and it is audited.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from core.audit.context import acting_as, current_context, set_context
from core.audit.service import record_event
from core.db import db, utcnow
from core.db.engine import SQLITE_BUSY_TIMEOUT_MS, in_read_only_scope, set_read_only
from core.errors import AuthenticationFailed, PermissionDenied, TokenRefused, ValidationError
from core.users.auth import API_PATH, authenticate
from core.users.models import ApiToken, User

log = logging.getLogger("cqms.tokens")
PREFIX = "cqms_"
USE_RECORDED_EVERY = timedelta(minutes=5)
USE_WAIT_MS = 200
_uses_lock = threading.Lock()
# Where the bearer loader leaves why it refused a token; the 401 answer names it.
REFUSAL_KEY = "cqms_auth_refused"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of ``user`` valid for ``days`` (config default and maximum); returns the row
    and the secret, which is shown once and never stored. Flushes; the caller commits."""
    cfg = current_app.config
    days = cfg["API_TOKEN_DAYS"] if days is None else days
    if not 1 <= days <= cfg["API_TOKEN_MAX_DAYS"]:
        raise ValidationError({"expires_in_days": f"Choose 1 to {cfg['API_TOKEN_MAX_DAYS']} days."})
    name = (name or "").strip() or "API token"
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, prefix=secret[: len(PREFIX) + 6],
                   token_hash=token_hash(secret), expires_at=utcnow() + timedelta(days=days))
    with acting_as(user):
        db.session.add(row)
        db.session.flush()
    return row, secret


def check_token_holder(user: User) -> None:
    """Refuse tokens to accounts that must first act in the web UI."""
    if user.must_change_password:
        raise PermissionDenied("Change your password in the web interface first.")
    state = current_app.extensions["cqms"]
    if state.totp_required(user) and user.totp_enabled_at is None:
        raise PermissionDenied("Your role requires an authenticator: enrol in the web interface "
                               "first.")


def sign_in_for_token(username: str, password: str, totp: str | None) -> User:
    """Check credentials as the sign-in page does (failures count, lockout applies)."""
    user = authenticate(username, password, totp)
    if user is None:
        db.session.commit()  # the failure and any lockout are kept
        raise AuthenticationFailed("Unknown username, wrong password or code, or a locked account.")
    check_token_holder(user)
    return user


def client_id(token: ApiToken) -> str:
    """How audit entries name the API client: the token (a registered client) and its name."""
    return f"api-token:{token.id} {token.name}"[:255]


def refusal(row: ApiToken) -> str | None:
    """Why ``row`` may not be used now (``None`` when it may). A token ends with its account's
    other credentials: lockout refuses it while locked; deactivation and a password change
    revoke it, and a token issued before the password's last change is refused whatever wrote
    the password."""
    user = row.user
    if not user.is_active:
        return "The account is deactivated."
    if user.is_locked:
        return "The account is locked; an administrator must unlock it."
    if row.revoked_at is not None:
        return "The token was revoked; issue a new one."
    if row.expires_at <= utcnow():
        return "The token expired; issue a new one."
    if user.password_changed_at is not None and row.created_at < user.password_changed_at:
        return "The password was changed after the token was issued; issue a new one."
    return None


def user_for_token(secret: str) -> User | None:
    """The user holding a token that may be used now (``None`` otherwise, the reason kept for
    the 401). The request's audit entries name the token as their client (21 CFR 11.10(h))."""
    row = None
    if secret.startswith(PREFIX) and len(secret) <= 128:
        row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))
    why = "The token is not known." if row is None else refusal(row)
    if why is not None:
        g.setdefault(REFUSAL_KEY, TokenRefused(why))
        return None
    record_use(row, utcnow())
    set_context(replace(current_context(), client=client_id(row)))  # reset at request end
    return row.user


def record_use(row: ApiToken, now: datetime) -> None:
    """Keep when a token was last used: coarse (at most every ``USE_RECORDED_EVERY`` per token
    and process) and unaudited. A read stays a read: in a safe request it is written on a
    connection and in a short transaction of its own (on SQLite a read upgraded to a write fails
    when another writer committed meanwhile); a writing request, which already holds the write
    lock, carries it in its own transaction. A failure to write it is logged, never the user's."""
    uses = current_app.extensions["cqms"].token_uses
    with _uses_lock:
        last = uses.get(row.id) or row.last_used_at
        if last is not None and now - last < USE_RECORDED_EVERY:
            return
        uses[row.id] = now
    table = ApiToken.__table__
    statement = update(table).where(
        table.c.id == row.id, or_(table.c.last_used_at.is_(None),
                                  table.c.last_used_at < now - USE_RECORDED_EVERY)
    ).values(last_used_at=now)
    if not in_read_only_scope():
        db.session.execute(statement)
    elif _write_apart(statement, row.id):
        # End the request's read transaction (nothing is pending in a safe request): its
        # snapshot predates the write, and a later upgrade to writing would fail on SQLite.
        db.session.commit()
    else:
        with _uses_lock:
            uses.pop(row.id, None)
        return
    set_committed_value(row, "last_used_at", now)


def _write_apart(statement: Any, token_id: int) -> bool:
    """Run ``statement`` in a transaction of its own that waits for locks briefly (``USE_WAIT_MS``),
    then gives up: bookkeeping never holds a reader up for long."""
    mode = set_read_only(False)  # a writing transaction: BEGIN IMMEDIATE on SQLite
    try:
        with db.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            raw = connection.connection.driver_connection
            if sqlite:
                raw.execute(f"PRAGMA busy_timeout={USE_WAIT_MS}")
            try:
                with connection.begin():
                    if not sqlite:
                        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {USE_WAIT_MS}")
                    connection.execute(statement)
            finally:
                if sqlite:
                    raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        return True
    except SQLAlchemyError as exc:
        log.warning("API token %s: its use was not recorded: %s", token_id, exc)
        return False
    finally:
        mode.var.reset(mode)


def tokens_of(user: User | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(stmt))


def revoke_token(token: ApiToken, by: User) -> None:
    if token.revoked_at is not None:
        return
    with acting_as(by):
        token.revoked_at = utcnow()
        token.revoked_by_id = by.id
        db.session.flush()
    record_event("api_token.revoked", "core_api_token", token.id, actor=by,
                 new=token.audit_label())


def load_bearer_user(req) -> User | None:  # type: ignore[no-untyped-def]
    """Flask-Login's request loader: the holder of a valid ``Authorization: Bearer`` token, on
    API paths only."""
    if not req.path.startswith(API_PATH):
        return None
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return user_for_token(secret.strip())

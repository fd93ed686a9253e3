"""Password hashing (argon2id) and the set-time policy: length, common list, reuse."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from core.db import db, utcnow
from core.errors import ValidationError
from core.users.models import PasswordHistory, User

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
_TRAILING = re.compile(r"[\d\W_]+$")


def make_hasher(testing: bool) -> PasswordHasher:
    """argon2id; the test profile uses cheaper parameters to keep the suite fast."""
    if testing:
        return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    return PasswordHasher()


def _hasher() -> PasswordHasher:
    return current_app.extensions["cqms"].hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same effort for unknown users so timing does not reveal existence.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def policy_errors(password: str, user: User | None = None, username: str = "") -> list[str]:
    """Readable reasons why ``password`` may not be set (empty when acceptable)."""
    cfg = current_app.config
    errors = []
    if len(password) < cfg["PASSWORD_MIN_LENGTH"]:
        errors.append(f"Use at least {cfg['PASSWORD_MIN_LENGTH']} characters.")
    if len(password) > cfg["PASSWORD_MAX_LENGTH"]:
        errors.append(f"Use at most {cfg['PASSWORD_MAX_LENGTH']} characters.")
    lowered = password.lower()
    stripped = _TRAILING.sub("", lowered)
    if lowered in common_passwords() or stripped in common_passwords() or len(set(lowered)) < 3:
        errors.append("This password is too common or too easy to guess.")
    name = (user.username if user is not None else username).lower()
    if name and name in lowered:
        errors.append("The password must not contain the username.")
    if user is not None and not errors and _reused(user, password):
        errors.append(
            f"Choose a password you have not used for your last {cfg['PASSWORD_HISTORY']} changes."
        )
    return errors


def _reused(user: User, password: str) -> bool:
    depth = current_app.config["PASSWORD_HISTORY"]
    if depth == 0 or user.id is None:
        return False
    stmt = (
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
        .limit(depth)
    )
    return any(verify_password(h, password) for h in db.session.scalars(stmt))


def set_password(user: User, password: str, *, must_change: bool = False) -> None:
    """Validate against the policy and store; raises ValidationError naming ``password``."""
    errors = policy_errors(password, user=user, username=user.username)
    if errors:
        raise ValidationError({"password": " ".join(errors)})
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    if user.id is None:
        db.session.flush()
    db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))

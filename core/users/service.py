"""Account administration: the only writers of users and role assignments (all audited)."""

from __future__ import annotations

import re

from sqlalchemy import func, insert, select

from core.audit.context import AuditContext, audit_reason, current_context
from core.audit.service import record_event
from core.db import db, utcnow
from core.errors import ConflictError, ValidationError
from core.reactions.service import queue as queue_reactions
from core.studies import Site, Study
from core.users.models import ApiToken, Role, User, UserRole, UserSession
from core.users.passwords import set_password

USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYSTEM_USERNAME = "system"


def get_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def require_user(username: str) -> User:
    user = get_user(username)
    if user is None or user.is_service:
        raise ValidationError({"username": f"No user named {username!r}."})
    return user


def _require_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ValidationError({"reason": "A reason is required."})
    return reason.strip()


def ensure_system_user() -> User:
    """The service principal that CLI commands and sweeps act as (cannot log in)."""
    user = get_user(SYSTEM_USERNAME)
    if user is None:
        # Bootstrap: no actor exists yet, so the principal is inserted directly and then
        # recorded as created by itself (the only change ever attributed that way).
        values = {"username": SYSTEM_USERNAME, "full_name": "CQMS system", "is_service": True}
        user_id = db.session.execute(insert(User).values(**values)).inserted_primary_key[0]
        user = db.session.get(User, user_id)
        ignored = User.__audit_ignore__
        for attr in User.__mapper__.column_attrs:  # every column, as the listener would
            value = getattr(user, attr.key)
            if value is not None and attr.key not in ignored:
                record_event("create", "core_user", user_id, field=attr.key, new=value,
                             actor=user, reason="Service principal created at first database "
                                                "set-up")
        db.session.flush()
    return user


def system_context(client: str) -> AuditContext:
    user = ensure_system_user()
    return AuditContext(actor_id=user.id, actor_name=user.printed_name, client=client)


def validate_identity(username: str, full_name: str, email: str) -> dict[str, str]:
    errors = {}
    if not USERNAME_RE.match(username or ""):
        errors["username"] = (
            "Use 2-64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter."
        )
    elif get_user(username) is not None:
        # Usernames are unique forever, deactivated accounts included.
        errors["username"] = f"The username {username!r} exists or existed; choose another."
    if not (full_name or "").strip():
        errors["full_name"] = "The printed full name is required."
    elif len(full_name) > 200:
        errors["full_name"] = "Use at most 200 characters."
    if email and not EMAIL_RE.match(email):
        errors["email"] = "Enter a valid e-mail address."
    return errors


def create_user(
    username: str,
    full_name: str,
    email: str,
    password: str,
    *,
    roles: list[str] = (),  # type: ignore[assignment]
    must_change_password: bool = False,
    reason: str = "Account created",
) -> User:
    username = (username or "").strip()
    errors = validate_identity(username, full_name, email)
    role_objs = []
    for key in roles:
        role = db.session.scalar(select(Role).where(Role.key == key))
        if role is None:
            errors["role"] = f"Unknown role {key!r}."
        role_objs.append(role)
    if errors:
        raise ValidationError(errors)
    with audit_reason(reason):
        user = User(username=username, full_name=full_name.strip(), email=email.strip())
        db.session.add(user)
        set_password(user, password, must_change=must_change_password)
        granted = [UserRole(user=user, role=role) for role in role_objs]
        db.session.add_all(granted)
        db.session.flush()
    for assignment in granted:
        _announce(assignment)
    return user


def assign_role(
    user: User,
    role: Role,
    *,
    reason: str,
    study: Study | None = None,
    site: Site | None = None,
    granted_by: User | None = None,
) -> UserRole:
    reason = _require_reason(reason)
    if site is not None and study is not None and site.study_id != study.id:
        raise ValidationError({"site": "The site does not belong to the chosen study."})
    if site is not None:
        study = None  # a site scope implies its study
    for existing in user.active_assignments():
        if (
            existing.role_id == role.id
            and existing.study_id == (study.id if study else None)
            and existing.site_id == (site.id if site else None)
        ):
            raise ConflictError(f"{user.username} already holds {role.key} @ {existing.scope_label}.")
    with audit_reason(reason):
        assignment = UserRole(
            user=user,
            role=role,
            study=study,
            site=site,
            granted_by_id=granted_by.id if granted_by else None,
        )
        db.session.add(assignment)
        db.session.flush()
    _announce(assignment)
    return assignment


def revoke_assignment(assignment: UserRole, *, reason: str, revoked_by: User | None = None) -> None:
    reason = _require_reason(reason)
    if assignment.revoked_at is not None:
        raise ConflictError("This role assignment is already revoked.")
    with audit_reason(reason):
        assignment.revoked_at = utcnow()
        assignment.revoked_by_id = revoked_by.id if revoked_by else None
        db.session.flush()
    _announce(assignment)


def _announce(assignment: UserRole) -> None:
    """Plugins hear of a grant or revocation once it committed (``role_assignment_changed``)."""
    queue_reactions("role_assignment_changed", assignment=assignment)


def end_sessions(user: User, why: str) -> int:
    """Invalidate every open session of ``user`` server-side; returns how many ended."""
    now = utcnow()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ).all()
    for s in sessions:
        s.ended_at = now
        s.end_reason = why
    return len(sessions)


def end_tokens(user: User, why: str) -> int:
    """Revoke every live API token of ``user`` (each audited, by whoever acts now, with the
    current reason); returns how many."""
    now = utcnow()
    rows = db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)).all()
    for row in rows:
        row.revoked_at = now
        row.revoked_by_id = current_context().actor_id
        db.session.flush()
        record_event("api_token.revoked", "core_api_token", row.id, field="cause", new=why)
    return len(rows)


def end_access(user: User, why: str) -> None:
    """End every credential of ``user`` in use: web sessions and API tokens."""
    end_sessions(user, why)
    end_tokens(user, why)


def deactivate(user: User, *, reason: str) -> None:
    reason = _require_reason(reason)
    if not user.active:
        raise ConflictError(f"{user.username} is already deactivated.")
    with audit_reason(reason):
        user.active = False
        user.deactivated_at = utcnow()
        end_access(user, "deactivated")
        db.session.flush()


def reactivate(user: User, *, reason: str) -> None:
    reason = _require_reason(reason)
    if user.active:
        raise ConflictError(f"{user.username} is already active.")
    with audit_reason(reason):
        user.active = True
        user.deactivated_at = None
        db.session.flush()


def verify_identity(user: User, by: User, *, reason: str) -> None:
    """Record that ``by`` verified the identity of ``user`` (21 CFR 11.100(b)): from then on
    ``user`` may sign. Nobody verifies their own identity; the change is audited with the
    reason (e.g. the identity document seen)."""
    reason = _require_reason(reason)
    if user.is_service:
        raise ValidationError({"username": "The system account never signs."})
    if by.id == user.id:
        raise ValidationError({"username": "Nobody verifies their own identity: ask another "
                                           "administrator."})
    if user.identity_verified_at is not None:
        raise ConflictError(f"{user.username}'s identity was already verified.")
    with audit_reason(reason):
        user.identity_verified_at = utcnow()
        user.identity_verified_by_id = by.id
        db.session.flush()


def unlock(user: User, *, reason: str = "Unlocked by administrator") -> None:
    if not user.is_locked:
        raise ConflictError(f"{user.username} is not locked.")
    with audit_reason(reason):
        user.locked_at = None
        user.failed_logins = 0
        record_event("user.unlocked", "core_user", user.id)
        db.session.flush()


def change_own_password(user: User, current: str, new: str) -> None:
    from core.users.passwords import verify_password

    if not verify_password(user.password_hash, current):
        from core.users.auth import register_failure

        # A wrong current password counts towards lockout like a failed sign-in, so a
        # hijacked session cannot be used to guess the password without limit.
        register_failure(user, "password re-entry")
        raise ValidationError({"current_password": "The current password is not correct."})
    with audit_reason("Password changed by the user"):
        set_password(user, new)
        end_access(user, "password changed")
        db.session.flush()

"""The lines of a user-access review (E6-24): one per user x role x scope held when the review
opened, with the last sign-in; the reviewer confirms or revokes each one before completing.
Revoking goes through the core's user service (audited, the grant ends at once) and is
recorded on the line."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.audit.context import acting_as, audit_reason
from core.db import db, utcnow
from core.errors import ConflictError, PermissionDenied, ValidationError
from core.permissions import may_act_in
from core.records.rules import server_write
from core.reviews.models import DECISIONS, AccessReviewLine, PeriodicReview
from core.users.models import User, UserRole
from core.users.service import revoke_assignment

PERFORM = "core.reviews.perform"
MAX_NOTE = 2000


def add_access_lines(review: PeriodicReview, now: datetime, inactive_days: int,
                     by: User) -> int:
    """One line per live role grant of an active person account; returns how many."""
    grants = db.session.scalars(
        select(UserRole).join(User, User.id == UserRole.user_id)
        .where(UserRole.revoked_at.is_(None), User.active.is_(True), User.is_service.is_(False))
        .order_by(User.username, UserRole.id)).all()
    for grant in grants:
        user = grant.user
        seen = user.last_login_at or user.created_at
        db.session.add(AccessReviewLine(
            record_id=review.id, created_by_id=by.id, assignment_id=grant.id, user_id=user.id,
            person=f"{user.username} ({user.full_name})", role_label=grant.role.label,
            scope=grant.scope_label, last_sign_in=user.last_login_at,
            inactive=seen is None or now - seen > timedelta(days=inactive_days)))
    db.session.flush()
    return len(grants)


def access_lines(review: PeriodicReview) -> list[AccessReviewLine]:
    return list(db.session.scalars(select(AccessReviewLine).where(
        AccessReviewLine.record_id == review.id).order_by(AccessReviewLine.id)))


def undecided(review: PeriodicReview) -> int:
    return db.session.scalar(select(func.count()).select_from(AccessReviewLine).where(
        AccessReviewLine.record_id == review.id, AccessReviewLine.decision == "")) or 0


def lines_decided(review: PeriodicReview, _user: Any) -> list[str]:
    """Guard of completing a user-access review: every line confirmed or revoked."""
    if review.kind != "access":
        return []
    left = undecided(review)
    return [f"confirm or revoke every access line first ({left} not yet decided)"] if left else []


def decide_line(line: AccessReviewLine, user: User, decision: str, note: str = "") -> None:
    """Confirm a line, or revoke it (the role grant is revoked with the note as reason).
    Flushes; the caller commits."""
    review = db.session.get(PeriodicReview, line.record_id)
    if not may_act_in(user, PERFORM, review.study):
        raise PermissionDenied(f"You may not decide the lines of {review.number}.")
    if review.state != "open":
        raise ConflictError(f"{review.number} is completed: its lines no longer change.")
    if decision not in DECISIONS:
        raise ValidationError({"decision": "Confirm or revoke the line."})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"At most {MAX_NOTE} characters."})
    if decision == "revoked" and not note:
        raise ValidationError({"note": "Say why the access is revoked."})
    if line.decision:
        raise ConflictError(f"This line of {review.number} is already "
                            f"{DECISIONS[line.decision].lower()}.")
    grant = db.session.get(UserRole, line.assignment_id)
    if decision == "confirmed" and grant.revoked_at is not None:
        raise ConflictError(f"{line.person} no longer holds {line.role_label} @ {line.scope} "
                            "(revoked since the review opened): record the line as revoked.")
    with acting_as(user):
        if decision == "revoked":
            if grant.revoked_at is None:
                revoke_assignment(grant, reason=f"Revoked in access review {review.number}: "
                                                f"{note}", revoked_by=user)
        with audit_reason(f"Access review {review.number}: {line.person}, {line.role_label} "
                          f"@ {line.scope} {DECISIONS[decision].lower()}"):
            line.decision, line.note = decision, note
            line.decided_by_id, line.decided_at = user.id, utcnow()
            db.session.flush()
            with server_write(review.type):  # part of what the completing signature covers
                review.decisions = decisions_text(review)
                db.session.flush()


def decisions_text(review: PeriodicReview) -> str:
    """One line per decided line: the decision, the person, role and scope, the note, who
    decided and when."""
    found = []
    for line in access_lines(review):
        if not line.decision:
            continue
        note = f": {line.note}" if line.note else ""
        decider = db.session.get(User, line.decided_by_id)
        found.append(f"{DECISIONS[line.decision]}: {line.person}, {line.role_label} @ "
                     f"{line.scope}{note} (by {decider.printed_name if decider else '?'}, "
                     f"{line.decided_at:%Y-%m-%d %H:%M} UTC)")
    return "\n".join(found)

"""Recording and ending absences with a delegate, and finding the absent person a delegate may
sign for. The signing itself stays in ``core.signatures.service``."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select

from core.audit.context import acting_as, audit_reason
from core.db import db, utcnow
from core.delegations.models import Delegation, absences_delegated_to
from core.errors import PermissionDenied, ValidationError
from core.permissions import has_permission
from core.records.models import Record
from core.tasks.models import OPEN, Task
from core.tasks.service import close_tasks
from core.users.models import User
from core.users.service import get_user

MANAGE_PERMISSION = "core.users.manage"


def today() -> date:
    return utcnow().date()


def may_manage(actor: User, absent: User) -> bool:
    """The absent person themselves, or a user administrator."""
    return actor.id == absent.id or has_permission(actor, MANAGE_PERMISSION)


def record_absence(absent: User | None, delegate: User | None, starts_on: date | None,
                   ends_on: date | None, reason: str, actor: User) -> Delegation:
    """Record that ``absent`` is away from ``starts_on`` to ``ends_on`` (both included) and that
    ``delegate`` signs their steps meanwhile; audited with ``reason``. The caller commits.

    :raises PermissionDenied: ``actor`` is neither ``absent`` nor a user administrator.
    :raises ValidationError: naming the field at fault.
    """
    errors: dict[str, str] = {}
    if absent is None or absent.is_service:
        errors["absent"] = "Choose the person who will be absent."
    if delegate is None or not delegate.is_active:
        errors["delegate"] = "Choose an active user as the delegate."
    elif absent is not None and delegate.id == absent.id:
        errors["delegate"] = "The delegate must be someone other than the absent person."
    if starts_on is None:
        errors["starts_on"] = "Enter the first day of the absence."
    if ends_on is None:
        errors["ends_on"] = "Enter the last day of the absence."
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = "The last day cannot be before the first day."
    elif ends_on < today():
        errors["ends_on"] = "This period has already ended."
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Give the reason for the absence."
    if errors:
        raise ValidationError(errors)
    assert absent is not None and delegate is not None  # checked above
    if not may_manage(actor, absent):
        raise PermissionDenied("Only the absent person or a user administrator can record "
                               "their absence.")
    row = Delegation(absent_id=absent.id, delegate_id=delegate.id, starts_on=starts_on,
                     ends_on=ends_on, reason=reason, created_by_id=actor.id)
    with acting_as(actor), audit_reason(reason):
        db.session.add(row)
        db.session.flush()
    return row


def end_delegation(delegation: Delegation, actor: User, reason: str) -> None:
    """End a delegation now (audited with ``reason``); the caller commits."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for ending the delegation."})
    if not may_manage(actor, delegation.absent) and actor.id != delegation.delegate_id:
        raise PermissionDenied("Only the absent person, the delegate or a user administrator "
                               "can end this delegation.")
    if delegation.ended_at is not None:
        raise ValidationError({"delegation": "This delegation has already ended."})
    with acting_as(actor), audit_reason(reason):
        delegation.ended_at = utcnow()
        delegation.ended_by_id = actor.id
        db.session.flush()


def delegations_of(user: User) -> list[Delegation]:
    """Every delegation ``user`` gave or received, newest first."""
    return list(db.session.scalars(select(Delegation).where(or_(
        Delegation.absent_id == user.id, Delegation.delegate_id == user.id))
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc())))


def recent_delegations(limit: int = 200) -> list[Delegation]:
    """Everyone's delegations, newest first (a user administrator's list)."""
    return list(db.session.scalars(select(Delegation).order_by(
        Delegation.starts_on.desc(), Delegation.id.desc()).limit(limit)))


def delegators_of(delegate: User, day: date | None = None) -> list[User]:
    """The active people ``delegate`` may sign for today (or on ``day``), by username."""
    return list(db.session.scalars(select(User).where(
        User.id.in_(absences_delegated_to(delegate, day)), User.active.is_(True))
        .order_by(User.username)))


def absent_person_for(record: Record, signer: User, username: str, transition: str) -> User:
    """The absent person ``signer`` signs ``transition`` of ``record`` for: ``username`` must
    have a delegation to ``signer`` running today and an open task asking them for this step.

    :raises PermissionDenied: otherwise (the signer's own rights are checked by the caller).
    """
    absent = get_user(username.strip()) if username.strip() else None
    if absent is None or absent.id == signer.id or absent not in delegators_of(signer):
        raise PermissionDenied(f"You hold no delegation from {username.strip()[:64]} running "
                               "today: you can sign only for yourself.")
    asked = db.session.scalar(select(Task.id).where(
        Task.record_id == record.id, Task.state == OPEN, Task.assignee_id == absent.id,
        Task.action == transition).limit(1))
    if asked is None:
        raise PermissionDenied(f"{absent.full_name} was not asked to take this step of "
                               f"{record.number}: sign it as yourself or not at all.")
    return absent


def take_over_task(record: Record, absent: User, transition: str, delegate: User) -> None:
    """Close the absent person's open task for ``transition`` of ``record``: their delegate
    took the step on their behalf (audited as done by the delegate). Flushes."""
    kinds = set(db.session.scalars(select(Task.kind).where(
        Task.record_id == record.id, Task.state == OPEN, Task.assignee_id == absent.id,
        Task.action == transition)))
    for kind in sorted(kinds):
        close_tasks(record, kind=kind, assignee=absent, by=delegate,
                    reason=f"Taken on behalf of {absent.username} by their delegate")

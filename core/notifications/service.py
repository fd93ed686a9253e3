"""``notify()``: queue one in-app notification (and its e-mail) per (kind, record, due date,
recipient), race-safely; unread counts and marking as read."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.audit.service import record_event
from core.db import db, utcnow
from core.errors import ValidationError
from core.notifications.models import EMAIL_NONE, EMAIL_PENDING, Notification, dedupe_key
from core.records.access import readable_or_none
from core.tasks.models import as_due_date
from core.users.models import User

KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,99}$")
UNREAD_CAP = 100  # the navigation shows "99+" beyond this: never a COUNT over the whole table


def _one_line(text: str) -> str:
    """Header-safe: line breaks in a subject would be refused by the e-mail library."""
    return " ".join((text or "").split())


def notify(
    kind: str,
    recipient: User,
    subject: str,
    body: str,
    *,
    record: Any = None,
    due: date | datetime | None = None,
) -> bool:
    """Queue a notification for ``recipient``: shown in the application at once and, when
    e-mail is configured and the recipient has an address, sent by the outbox.

    One notification exists per (``kind``, ``record``, ``due``, recipient): queuing it again,
    from a second sweep or a racing scheduler, changes nothing and returns False (the
    database's unique key decides, with INSERT .. ON CONFLICT DO NOTHING). Inactive and
    service accounts are not notified (False). Flushes in the caller's transaction.

    :param kind: ``<key>.<name>`` (``capa.due_soon``).
    :param record: the record it is about (its page is linked), or None.
    :param due: the due date it reminds of; a new due date is a new notification.
    :returns: True when the notification was queued now.
    """
    kind = (kind or "").strip()
    subject = _one_line(subject)
    errors = {}
    if not KIND_RE.match(kind):
        errors["kind"] = "Use 1-100 lower-case letters, digits, '.' or '_', starting with a letter."
    if not subject or len(subject) > 300:
        errors["subject"] = "A subject of at most 300 characters is required."
    if not isinstance(recipient, User):
        errors["recipient"] = "Name the user to notify."
    if errors:
        raise ValidationError(errors)
    if not recipient.active or recipient.is_service:
        return False
    due_date = as_due_date(due)
    record_id = getattr(record, "id", record)
    email = EMAIL_PENDING if current_app.config["SMTP_HOST"] and recipient.email else EMAIL_NONE
    now = utcnow()
    connection = db.session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Notification)
        .values(dedupe_key=dedupe_key(kind, record_id, due_date, recipient.id), kind=kind,
                recipient_id=recipient.id, record_id=record_id, due=due_date, subject=subject,
                body=body or "", created_at=now, email_state=email, attempts=0,
                next_attempt_at=now if email == EMAIL_PENDING else None, last_error="")
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    )
    new_id = db.session.execute(stmt).scalar()
    if new_id is None:
        return False
    record_event("notification.queued", "core_notification", new_id, field=kind,
                 new=recipient.username)
    return True


def unread_count(user: User, cap: int = UNREAD_CAP) -> int:
    """Unread notifications of ``user`` they may see, counted up to ``cap`` (an index range,
    not a scan)."""
    ids = (select(Notification.id)
           .where(Notification.recipient_id == user.id, Notification.read_at.is_(None),
                  readable_or_none(user, Notification.record_id))
           .limit(cap).subquery())
    return db.session.scalar(select(func.count()).select_from(ids)) or 0


def notifications_of(user: User) -> Any:
    """A ``select(Notification)`` of ``user``'s notifications, newest first: those about no
    record or about a record ``user`` may read (a record out of their scope stays hidden)."""
    return (select(Notification).where(Notification.recipient_id == user.id,
                                       readable_or_none(user, Notification.record_id))
            .order_by(Notification.id.desc()))


def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark ``user``'s notifications (those in ``ids``, or all) as read; returns how many.
    Reading is not a change of GxP data, so it is not audited. Flushes; the caller commits."""
    stmt = update(Notification).where(Notification.recipient_id == user.id,
                                      Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = db.session.execute(stmt.values(read_at=utcnow())
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0

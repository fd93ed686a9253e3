"""Idempotent sweeps: training due soon, overdue, and expiring completions (retraining)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core import Record, User, db, get_setting, notify
from plugins.training import queries, services
from plugins.training.models import TrainingAssignment


def _open_due_between(start, end):  # type: ignore[no-untyped-def]
    stmt = select(TrainingAssignment).where(Record.state.in_(queries.open_states()),
                                            TrainingAssignment.due_date.is_not(None))
    if start is not None:
        stmt = stmt.where(TrainingAssignment.due_date >= start)
    if end is not None:
        stmt = stmt.where(TrainingAssignment.due_date <= end)
    return db.session.scalars(stmt.order_by(TrainingAssignment.id))


def due_soon_sweep(now: datetime) -> int:
    today = now.date()
    horizon = today + timedelta(days=get_setting("training.due_soon_days"))
    count = 0
    for a in _open_due_between(today, horizon):
        count += notify("training.due_soon", a.trainee, f"Training due soon: {a.title}",
                        f"Complete {a.number} by {a.due_date.isoformat()}.", record=a,
                        due=a.due_date)
    return count


def overdue_sweep(now: datetime) -> int:
    count = 0
    for a in _open_due_between(None, now.date() - timedelta(days=1)):
        count += notify("training.overdue", a.trainee, f"Training overdue: {a.title}",
                        f"{a.number} was due on {a.due_date.isoformat()}.", record=a,
                        due=a.due_date)
    return count


def expiry_sweep(now: datetime) -> int:
    """Assign retraining for completions expiring within the notice period (once each)."""
    horizon = now.date() + timedelta(days=get_setting("training.expiry_notice_days"))
    return len(services.expiring_renewals(horizon))


def sync_sweep(now: datetime) -> int:
    """Catch up on assignments the curricula require (normally made at once by the reactions;
    this repairs any missed, e.g. after a failure or a plugin re-enabled)."""
    curricula = queries.active_curricula()
    return sum(len(services.sync_user(user, curricula)) for user in User.active_people())

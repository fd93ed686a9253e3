"""Idempotent sweeps: actions due soon or overdue, effectiveness checks overdue, and serious
events still to be notified (each reminder sent once per due date, however often they run)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core import Record, close_tasks, db, get_setting, notify, system_user
from plugins.capa.models import Capa, CapaAction, QualityEvent
from plugins.capa.reactions import NOTIFY_TASK, notification_task


def _open_actions(until):  # type: ignore[no-untyped-def]
    return db.session.execute(
        select(CapaAction, Capa).join(Capa, Capa.id == CapaAction.record_id)
        .where(Record.state == "implementation", CapaAction.completed_at.is_(None),
               CapaAction.due_date <= until).order_by(CapaAction.id)).all()


def actions_sweep(now: datetime) -> int:
    today = now.date()
    horizon = today + timedelta(days=get_setting("capa.due_soon_days"))
    count = 0
    for action, capa in _open_actions(horizon):
        late = action.due_date < today
        kind = "capa.action_overdue" if late else "capa.action_due_soon"
        words = "overdue" if late else "due soon"
        count += notify(kind, action.owner, f"CAPA action {words}: {capa.number}",
                        f"{action.description[:200]} was due on {action.due_date.isoformat()}."
                        if late else f"Complete {action.description[:200]} by "
                        f"{action.due_date.isoformat()}.", record=capa, due=action.due_date)
    return count


def checks_sweep(now: datetime) -> int:
    overdue = db.session.scalars(select(Capa).where(
        Record.state == "effectiveness_check", Capa.check_due_date < now.date())
        .order_by(Capa.id))
    return sum(notify("capa.check_overdue", capa.owner,
                      f"Effectiveness check overdue: {capa.number}",
                      f"The effectiveness check of {capa.number} was due on "
                      f"{capa.check_due_date.isoformat()}.", record=capa,
                      due=capa.check_due_date) for capa in overdue)


def notifications_sweep(now: datetime) -> int:
    """Serious events flagged after they were reported get their notification task too; the
    task of an event whose notification (or justification) is recorded is done."""
    events = list(db.session.scalars(select(QualityEvent).where(
        QualityEvent.serious.is_(True),
        Record.state.in_(("reported", "contained", "investigating", "investigated")))
        .order_by(QualityEvent.id)))
    actor = system_user()
    opened = 0
    for event in events:
        if event.notification.strip() or event.no_notification_rationale.strip():
            close_tasks(event, kind=NOTIFY_TASK, by=actor,
                        reason="Notification recorded on the event")
        else:
            opened += notification_task(event, actor)
    return opened

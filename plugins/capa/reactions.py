"""After-commit reactions: the tasks people work from (notify the authorities of a serious
event, complete one's actions, check effectiveness, re-evaluate a linked risk)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import close_tasks, db, get_setting, open_task, system_user, utcnow
from plugins.capa import queries
from plugins.capa.models import Capa, QualityEvent

NOTIFY_TASK = "capa.notify_authorities"
ACTION_TASK = "capa.complete_actions"
CHECK_TASK = "capa.check_effectiveness"
RISK_TASK = "capa.reevaluate_risk"


def notification_task(event: QualityEvent, by: Any) -> bool:
    """A serious event still to be notified has a task for QA; returns whether one was opened."""
    if not event.serious or event.notification.strip() or \
            event.no_notification_rationale.strip() or event.state in ("closed", "cancelled"):
        return False
    reported = (event.reported_at or event.created_at).date()
    due = reported + timedelta(days=get_setting("capa.notification_days"))
    asked = utcnow()
    task = open_task(event, NOTIFY_TASK, f"Notify the authorities / IRB-IEC of {event.number}",
                     role="qa_manager", due=due, by=by)
    return task.created_at >= asked  # an open one is returned as it is


def event_created(event: QualityEvent) -> None:
    if notification_task(event, system_user()):
        db.session.commit()


def event_transitioned(event: QualityEvent, transition: Any, user: Any) -> None:
    if event.state in ("closed", "cancelled"):
        close_tasks(event, kind=NOTIFY_TASK, by=user,
                    state="done" if event.state == "closed" else "cancelled")
        db.session.commit()


def action_tasks(capa: Capa, by: Any) -> None:
    """One task per owner of open actions, due on the earliest of their actions."""
    earliest: dict[int, Any] = {}
    for action in queries.actions_of(capa):
        if action.completed_at is None:
            earliest.setdefault(action.owner_id, action)
            if action.due_date < earliest[action.owner_id].due_date:
                earliest[action.owner_id] = action
    for action in earliest.values():
        open_task(capa, ACTION_TASK, f"Complete your actions on {capa.number}",
                  assignee=action.owner, due=action.due_date, by=by,
                  action=f"/capa/capas/{capa.id}/actions")


def capa_transitioned(capa: Capa, transition: Any, user: Any) -> None:
    name = transition.name
    if name == "approve_plan":
        action_tasks(capa, user)
    elif name == "start_check":
        close_tasks(capa, kind=ACTION_TASK, by=user)
        open_task(capa, CHECK_TASK, f"Check the effectiveness of {capa.number}",
                  role="qa_manager", due=capa.check_due_date, action="confirm_effective",
                  by=user)
    elif name in ("confirm_effective", "reopen", "replace"):
        close_tasks(capa, kind=CHECK_TASK, by=user)
    if capa.state in ("closed", "cancelled", "superseded"):
        for kind in (ACTION_TASK, CHECK_TASK):
            close_tasks(capa, kind=kind, by=user,
                        state="cancelled" if capa.state == "cancelled" else "done")
    if capa.state == "closed":
        for risk in queries.linked_risks(capa):
            open_task(risk, RISK_TASK, f"Re-evaluate {risk.number} after {capa.number}",
                      assignee=risk.owner, by=user)
    db.session.commit()


def action_completed(capa: Capa, owner: Any) -> None:
    """The owner's task ends with their last open action."""
    if not any(a.owner_id == owner.id and a.completed_at is None
               for a in queries.actions_of(capa)):
        close_tasks(capa, kind=ACTION_TASK, assignee=owner, by=owner)

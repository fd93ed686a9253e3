"""Running the reminder sweeps plugins register, and the core's own: overdue open tasks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.audit.context import audit_reason
from core.db import db, utcnow
from core.notifications.models import Notification, dedupe_key
from core.notifications.service import notify
from core.tasks.models import OPEN, Task
from core.tasks.service import disabled_record_types, recipients

log = logging.getLogger("cqms.reminders")
OVERDUE_KIND = "core.task_overdue"


@dataclass(frozen=True)
class SweepResult:
    key: str
    queued: int | None = None
    error: str = ""
    skipped: str = ""

    def line(self) -> str:
        if self.skipped:
            return f"{self.key}: skipped ({self.skipped})"
        if self.error:
            return f"{self.key}: failed: {self.error}"
        noun = "notification" if self.queued == 1 else "notifications"
        return f"{self.key}: {self.queued} {noun} queued"


def run_reminders(now: datetime | None = None) -> list[SweepResult]:
    """Run every registered sweep of an enabled plugin once, each in its own transaction
    (committed, or rolled back and reported when it raises), as the current actor."""
    state = current_app.extensions["cqms"]
    now = now or utcnow()
    results = []
    for key, reminder in state.registry.reminders.items():
        plugin = state.registry.reminder_owner[key]
        if not state.host.is_enabled(plugin):
            results.append(SweepResult(key, skipped=f"plugin {plugin} is disabled"))
            db.session.rollback()
            continue
        try:
            with audit_reason(f"Reminder sweep {key}"):
                queued = reminder.sweep(now)
            if not isinstance(queued, int) or isinstance(queued, bool):
                raise TypeError(f"the sweep returned {queued!r}, not a number of notifications")
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - one broken sweep must not stop the others
            db.session.rollback()
            log.exception("reminder sweep %s failed", key)
            results.append(SweepResult(key, error=f"{exc.__class__.__name__}: {exc}"[:300]))
            continue
        results.append(SweepResult(key, queued))
    return results


def record_link(record: object) -> str:
    """The record page's address for e-mails (PUBLIC_URL + path), or "" without PUBLIC_URL or
    an admin page for the record's type."""
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    record_type = getattr(record, "type", "")
    if not base or record_type not in current_app.extensions["cqms"].admin_endpoints:
        return ""
    adapter = current_app.url_map.bind("localhost")
    return base + adapter.build(f"{record_type}.details_view", {"id": record.id})  # type: ignore[attr-defined]


def _body(task: Task) -> str:
    record = task.record
    lines = [
        f"The task \"{task.title}\" is overdue.",
        "",
        f"Record: {record.number} {record.title}",
        f"Due: {task.due.isoformat()} (overdue since {(task.due + timedelta(days=1)).isoformat()}, UTC)",  # type: ignore[union-attr]
        f"Assigned to: {task.assigned_to}",
    ]
    if task.action and not task.action.startswith("/"):
        lines.append(f"To do: {task.action.replace('_', ' ')}")
    link = record_link(record)
    if link:
        lines += ["", f"Open it: {link}"]
    lines += ["", "You get this reminder once for this due date; your task list shows all "
                  "open tasks."]
    return "\n".join(lines)


def overdue_tasks(now: datetime) -> int:
    """The core's sweep: remind the assignee (or each active holder of the role in scope) of
    every open task past its due date, once per task kind, record, due date and person."""
    today = now.astimezone(UTC).date()
    stmt = select(Task).where(Task.state == OPEN, Task.due.is_not(None), Task.due < today)
    hidden = disabled_record_types()
    tasks = [t for t in db.session.scalars(stmt.order_by(Task.id)) if t.record.type not in hidden]
    holders: dict[tuple[int | None, int | None, int | None], list[Any]] = {}
    wanted = []
    for task in tasks:
        scope = (task.role_id, task.study_id, task.site_id)
        if task.role_id is not None and scope not in holders:
            holders[scope] = recipients(task)
        people = holders[scope] if task.role_id is not None else recipients(task)
        kind = f"{OVERDUE_KIND}.{task.kind}"
        wanted += [(task, user, kind, dedupe_key(kind, task.record_id, task.due, user.id))
                   for user in people]
    # Reminders already queued by an earlier run are skipped with one query per chunk instead
    # of one INSERT each (notify's unique key still decides when sweeps race).
    done: set[str] = set()
    keys = [key for *_rest, key in wanted]
    for start in range(0, len(keys), 500):
        done.update(db.session.scalars(select(Notification.dedupe_key).where(
            Notification.dedupe_key.in_(keys[start:start + 500]))))
    queued = 0
    for task, user, kind, key in wanted:
        if key not in done and notify(kind, user, f"Overdue: {task.title} ({task.record.number})",
                                      _body(task), record=task.record, due=task.due):
            queued += 1
    return queued

"""Due dates of records: a record type names its due-date column (``RecordType.due_field``);
(``due_by_state`` for states where something else is due); the core shows due and overdue on
lists and record pages, filters by it, and its sweep
``core.overdue_records`` opens a task for the owner of each open record past due (once per due
date) and, after ``escalate_after_days``, one for the holders of ``escalate_to_role``. Date
helpers for plugins live here too (``add_months``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select

from core.db import db, utcnow
from core.records.models import Record
from core.records.service import type_enabled
from core.specs import RecordType
from core.tasks.models import OPEN, Task
from core.tasks.service import close_tasks, open_task
from core.users.service import ensure_system_user
from core.workflows.categories import category_clause, category_of

OVERDUE, ESCALATED = "core.record_overdue", "core.record_escalated"


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, on the last day of a shorter month (31 January
    plus one month is 28 or 29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, last))


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


def due_of(record: Record) -> date | None:
    """When ``record`` is due in its state (``due_by_state``, else ``due_field``)."""
    rt = current_app.extensions["cqms"].registry.record_types.get(record.type)
    if rt is None or rt.due_field is None:
        return None
    return _as_date(getattr(record, rt.due_by_state.get(record.state, rt.due_field)))


def _open(record: Record) -> bool:
    return category_of(record) == "open"


def is_overdue(record: Record, today: date | None = None) -> bool:
    """Whether ``record`` is open (its state's category) and past its due date."""
    due = due_of(record)
    return due is not None and _open(record) and due < (today or _today())


def due_text(record: Record, today: date | None = None) -> str:
    """"Due 2026-12-01 (overdue by 4 days)", "Due today", "Due 2026-12-09 (in 4 days)", or ""."""
    due = due_of(record)
    if due is None:
        return ""
    if not _open(record):
        return f"Due {due.isoformat()}"
    days = (due - (today or _today())).days
    if days < 0:
        return f"Due {due.isoformat()} (overdue by {-days} day{'s' if days != -1 else ''})"
    if days == 0:
        return f"Due today ({due.isoformat()})"
    return f"Due {due.isoformat()} (in {days} day{'s' if days != 1 else ''})"


def overdue_clause(rt: RecordType, today: date | None = None) -> Any:
    """A SQL condition on ``rt.model``: open and past due."""
    today = today or _today()
    past = [and_(Record.state == state, getattr(rt.model, due) < today)
            for state, due in rt.due_by_state.items()]
    column = getattr(rt.model, rt.due_field)  # type: ignore[arg-type]
    past.append(and_(Record.state.not_in(tuple(rt.due_by_state)), column < today)
                if rt.due_by_state else column < today)
    return and_(category_clause(rt.key, "open"), or_(*past))


def _today() -> date:
    return utcnow().date()


def _types_with_due_dates() -> list[RecordType]:
    types = current_app.extensions["cqms"].registry.record_types.values()
    return [rt for rt in types if rt.due_field and type_enabled(rt.key)]


def overdue_records(now: datetime) -> int:
    """The sweep: a task for the owner of each open record past due, once per due date;
    escalation to the declared role after ``escalate_after_days``; overdue tasks of records no
    longer overdue are closed. The tasks are due on the record's date, so ``core.overdue_tasks``
    (which runs next) sends their reminders and counts them: this returns 0 notifications."""
    system, today = ensure_system_user(), now.date()
    for rt in _types_with_due_dates():
        steps = [(OVERDUE, 0)] + ([(ESCALATED, rt.escalate_after_days)]
                                  if rt.escalate_to_role else [])
        for record in db.session.scalars(select(rt.model).where(overdue_clause(rt, today))):
            due = due_of(record)
            for kind, late in steps:
                if (today - due).days <= late or db.session.scalar(select(Task.id).where(
                        Task.record_id == record.id, Task.kind == kind, Task.due == due)):
                    continue  # not yet, or done once for this due date
                close_tasks(record, kind=kind, by=system, reason="The due date changed")
                if kind == OVERDUE:
                    if not (record.owner.active and not record.owner.is_service):
                        continue
                    who: dict[str, Any] = {"assignee": record.owner}
                    title = f"{record.number} is overdue (due {due.isoformat()})"
                else:
                    who = {"role": rt.escalate_to_role}
                    title = f"{record.number} is {(today - due).days} days overdue: follow up"
                open_task(record, kind, title, due=due, by=system, reason="Past its due date",
                          **who)
    _close_settled(system, today)
    return 0


def _close_settled(system: Any, today: date) -> None:
    for task in db.session.scalars(select(Task).where(Task.kind.in_((OVERDUE, ESCALATED)),
                                                      Task.state == OPEN)).all():
        record = db.session.get(Record, task.record_id)
        if record is not None and not is_overdue(record, today):
            close_tasks(record, kind=task.kind, by=system,
                        reason="No longer overdue (closed or given a new due date)")

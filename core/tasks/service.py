"""Opening, closing and finding tasks: the service workflows and plugins call.

Every change is audited per field (``core_task`` is an audited model) and as a ``task.opened``
or ``task.done``/``task.cancelled`` event on the record, so it shows in the record's history.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, exists, false, or_, select, true

from core.audit.context import acting_as, audit_reason, current_context
from core.audit.listener import _actor
from core.audit.service import record_event
from core.db import db, utcnow
from core.db.locks import TASKS, lock_key
from core.delegations.models import absences_delegated_to
from core.errors import ValidationError
from core.permissions import scope_clause
from core.records.access import readable
from core.records.models import Record
from core.studies import Site, Study
from core.tasks.models import CANCELLED, DONE, OPEN, Task, as_due_date
from core.users.models import Role, User, UserRole

TEAM_PERMISSION = "core.tasks.view_team"
KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
ACTION_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _role(role: Any) -> Role | None:
    if role is None or isinstance(role, Role):
        return role
    return db.session.scalar(select(Role).where(Role.key == str(role)))


def _action(action: str) -> str:
    action = (action or "").strip()
    if not action:
        return ""
    if action.startswith("/"):
        if action.startswith("//") or "\\" in action or len(action) > 300:
            raise ValidationError({"action": "A path on this site, such as /admin/..., is expected."})
        return action
    if not ACTION_NAME_RE.match(action):
        raise ValidationError({"action": "Name a transition of the record's workflow or give a path."})
    return action


def _scope(record: Record, study: Any, site: Any) -> tuple[int | None, int | None]:
    """The task's study and site ids: as given, else the record's; a site implies its study."""
    study_id = getattr(study, "id", study)
    site_id = getattr(site, "id", site)
    if study_id is None and site_id is None:
        study_id, site_id = record.study_id, record.site_id
    if study_id is not None and db.session.get(Study, study_id) is None:
        raise ValidationError({"study": f"No study with id {study_id}."})
    if site_id is not None:
        site_row = db.session.get(Site, site_id)
        if site_row is None:
            raise ValidationError({"site": f"No site with id {site_id}."})
        if study_id is None:
            study_id = site_row.study_id
        elif site_row.study_id != study_id:
            raise ValidationError({"site": "The site does not belong to the study."})
    return study_id, site_id


def _actor_id(by: User | None) -> int:
    if by is not None:
        return by.id
    ctx = current_context()
    return _actor(ctx.actor_id, ctx.actor_name)[0]


def _attributed(by: User | None) -> Any:
    return acting_as(by) if by is not None else nullcontext()


def open_task(
    record: Record,
    kind: str,
    title: str,
    *,
    assignee: User | None = None,
    role: Role | str | None = None,
    study: Any = None,
    site: Any = None,
    due: date | datetime | None = None,
    action: str = "",
    by: User | None = None,
    reason: str = "",
) -> Task:
    """Open a task on ``record`` for ``assignee`` or for the holders of ``role``.

    Idempotent: while a task of the same record, kind and assignee (or role) is open, that task
    is returned and nothing is written. Flushes; the caller commits.

    :param kind: what the task is, ``<key>.<name>`` style (``documents.review``).
    :param role: a role key or ``Role``; holders whose assignment covers the task's study/site
        see it. ``study``/``site`` (objects or ids) default to the record's.
    :param due: the due date (a date, or an aware datetime taken as its UTC date).
    :param action: a transition name of the record's workflow, or a same-origin path.
    :param by: the user the audit entries are attributed to (default: the current actor).
    :raises ValidationError: on a bad kind, title, assignee, role, scope, due date or action.
    """
    errors: dict[str, str] = {}
    kind = (kind or "").strip()
    title = (title or "").strip()
    if not KIND_RE.match(kind):
        errors["kind"] = "Use 1-64 lower-case letters, digits, '.' or '_', starting with a letter."
    if not title or len(title) > 300:
        errors["title"] = "A title of at most 300 characters is required."
    role_row = _role(role)
    if (assignee is None) == (role is None):
        errors["assignee"] = "Assign the task to a user or to a role (exactly one)."
    elif role is not None and role_row is None:
        errors["role"] = f"Unknown role {role!r}."
    elif assignee is not None and (not assignee.active or assignee.is_service):
        errors["assignee"] = f"{assignee.username} is not an active user."
    if record is None or record.id is None:
        errors["record"] = "The record must be saved before tasks are opened on it."
    if errors:
        raise ValidationError(errors)
    due_date = as_due_date(due)
    action = _action(action)
    study_id, site_id = _scope(record, study, site)
    who = f"u{assignee.id}" if assignee is not None else f"r{role_row.id}"  # type: ignore[union-attr]
    key = f"{record.id}:{kind}:{who}"
    # Serialise with concurrent openers and closers of this record's tasks before looking.
    lock_key(db.session.connection(), TASKS, str(record.id))
    existing = db.session.scalar(select(Task).where(Task.open_key == key))
    if existing is not None:
        return existing
    with _attributed(by), audit_reason(reason or f"Task opened: {title}"):
        task = Task(record_id=record.id, kind=kind, title=title, action=action,
                    assignee_id=assignee.id if assignee is not None else None,
                    role_id=role_row.id if role_row is not None else None,
                    study_id=study_id, site_id=site_id, due=due_date, state=OPEN, open_key=key,
                    created_by_id=_actor_id(by))
        db.session.add(task)
        db.session.flush()
        record_event("task.opened", record.audit_entity_type, record.id, field=kind,
                     new=task.assigned_to, entity_version=record.version)
    return task


def close_tasks(
    record: Record,
    *,
    kind: str | None = None,
    assignee: User | None = None,
    role: Role | str | None = None,
    by: User,
    state: str = DONE,
    reason: str = "",
) -> int:
    """Close the open tasks of ``record`` (only those of ``kind``, of ``assignee`` or of
    ``role`` when given) as ``done`` or ``cancelled`` by ``by``; returns how many. Flushes; the
    caller commits.

    :raises ValidationError: on an unknown state or role.
    """
    if state not in (DONE, CANCELLED):
        raise ValidationError({"state": f"Close a task as {DONE!r} or {CANCELLED!r}."})
    if by is None:
        raise ValidationError({"by": "Name the user who closes the tasks."})
    lock_key(db.session.connection(), TASKS, str(record.id))
    stmt = select(Task).where(Task.record_id == record.id, Task.state == OPEN)
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    if assignee is not None:
        stmt = stmt.where(Task.assignee_id == assignee.id)
    if role is not None:
        role_row = _role(role)
        if role_row is None:
            raise ValidationError({"role": f"Unknown role {role!r}."})
        stmt = stmt.where(Task.role_id == role_row.id)
    tasks = list(db.session.scalars(stmt.order_by(Task.id)))
    if not tasks:
        return 0
    now = utcnow()
    with acting_as(by), audit_reason(reason or f"Task {state}"):
        for task in tasks:
            task.state = state
            task.completed_at = now
            task.completed_by_id = by.id
            task.open_key = None
        db.session.flush()
        for task in tasks:
            record_event(f"task.{state}", record.audit_entity_type, record.id, field=task.kind,
                         old=task.assigned_to, new=state, entity_version=record.version)
    return len(tasks)


def _covered(role_id: int, a_study: int | None, a_site: int | None) -> Any:
    """Role tasks an assignment of ``role_id`` with this scope covers (``has_permission``'s rule:
    global covers all, a study covers it and its sites, a site covers itself; tasks without a
    study or site are seen by every holder)."""
    unscoped = and_(Task.study_id.is_(None), Task.site_id.is_(None))
    if a_study is None and a_site is None:
        scope = None
    elif a_site is not None:
        scope = or_(Task.site_id == a_site, unscoped)
    else:
        scope = or_(Task.study_id == a_study, unscoped)
    return Task.role_id == role_id if scope is None else and_(Task.role_id == role_id, scope)


def visible_clause(user: User, *, include_team: bool = False) -> Any:
    """The condition selecting the tasks ``user`` sees (assigned to them or to someone whose
    absence they are the delegate for today, by role in scope, and with
    ``include_team`` every task in the scope of their ``core.tasks.view_team`` grants)."""
    if user is None or not getattr(user, "is_active", False):
        return false()
    clauses = [Task.assignee_id == user.id,
               Task.assignee_id.in_(absences_delegated_to(user))]  # P11-23: an absent person's
    clauses += [_covered(a.role_id, a.study_id, a.site_id) for a in user.active_assignments()]
    if include_team:
        clauses.append(scope_clause(user, TEAM_PERMISSION, Task.study_id, Task.site_id))
    return or_(*clauses)


def disabled_record_types() -> set[str]:
    """Record types of disabled plugins: their tasks are hidden and not reminded of."""
    state = current_app.extensions["cqms"]
    return {key for key in state.registry.record_types
            if (owner := state.host.owner_of(key)) is not None and not state.host.is_enabled(owner)}


def tasks_for(user: User, *, include_team: bool = False) -> Select[tuple[Task]]:
    """A ``select(Task)`` of the open tasks ``user`` sees: assigned to them, or to a role they
    hold in a scope covering the task's study/site; with ``include_team``, also every open task
    in the scope where they hold ``core.tasks.view_team``. Only tasks on records ``user`` may
    read; those of a disabled plugin are left out. Add filters and ordering freely."""
    stmt = select(Task).where(Task.state == OPEN, visible_clause(user, include_team=include_team),
                              readable(user, Task.record_id))
    hidden = disabled_record_types()
    if hidden:
        stmt = stmt.where(~exists().where(Record.id == Task.record_id, Record.type.in_(hidden)))
    return stmt


def recipients(task: Task) -> list[User]:
    """The active people a task is for: its assignee, or each holder of its role in scope."""
    if task.assignee_id is not None:
        user = task.assignee
        return [user] if user is not None and user.active and not user.is_service else []
    return holders(UserRole.role_id == task.role_id, study_id=task.study_id,
                   site_id=task.site_id)


def holders(role_condition: Any, *, study_id: int | None = None,
            site_id: int | None = None) -> list[User]:
    """Active people holding a role (``role_condition`` on ``UserRole``) in a scope covering
    ``study_id``/``site_id``: granted globally, for that study, or at that site; with neither,
    anywhere."""
    covering = [and_(UserRole.study_id.is_(None), UserRole.site_id.is_(None))]
    if study_id is None and site_id is None:
        covering = [true()]
    if site_id is not None:
        covering.append(UserRole.site_id == site_id)
    if study_id is not None:
        covering.append(and_(UserRole.site_id.is_(None), UserRole.study_id == study_id))
    stmt = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(role_condition, UserRole.revoked_at.is_(None), User.active.is_(True),
               User.is_service.is_(False), or_(*covering))
        .distinct()
        .order_by(User.id)
    )
    return list(db.session.scalars(stmt))


def users_holding(role_key: str, *, study: Any = None, site: Any = None) -> list[User]:
    """Active people holding the role ``role_key`` in a scope covering ``study``/``site``
    (objects or ids; neither: anywhere), for plugins that notify or choose people by role."""
    role = _role(role_key)
    if role is None:
        raise ValidationError({"role": f"Unknown role {role_key!r}."})
    return holders(UserRole.role_id == role.id, study_id=getattr(study, "id", study),
                   site_id=getattr(site, "id", site))

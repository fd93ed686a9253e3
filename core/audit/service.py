"""Writing events (login, lockout, plugin enabled, ...) and reading the trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.audit import chain
from core.audit.context import current_context
from core.audit.listener import AuditError, _actor, format_value
from core.audit.models import AuditEntry
from core.db import db, utcnow


def record_event(
    action: str,
    entity_type: str,
    entity_id: Any = "",
    *,
    field: str = "",
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    actor: Any = None,
    entity_version: int | None = None,
) -> int:
    """Append an event entry in the current transaction (committed with the change it
    describes); returns its sequence number. ``action`` is a declared audit event kind."""
    _check_kind(action)
    ctx = current_context()
    if actor is not None:
        actor_id, actor_name = actor.id, actor.printed_name
    else:
        actor_id, actor_name = _actor(ctx.actor_id, ctx.actor_name)
    entry = {
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "entity_type": entity_type,
        "entity_id": format_value(entity_id) or "",
        "entity_version": entity_version,
        "field": field,
        "old_value": format_value(old),
        "new_value": format_value(new),
        "reason": ctx.reason if reason is None else reason,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "client": ctx.client,
    }
    return chain.append(db.session.connection(), [entry], db.session.info)[0]


def _check_kind(action: str) -> None:
    from flask import current_app, has_app_context

    if has_app_context() and action not in current_app.extensions["cqms"].registry\
            .audit_event_kinds:
        raise AuditError(f"audit event kind {action!r} is not declared (declare it with "
                         "register_audit_event_kinds)")


def entries_for(entity_type: str, entity_id: Any) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
        .order_by(AuditEntry.id)
    )
    return list(db.session.scalars(stmt))

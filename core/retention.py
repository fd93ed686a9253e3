"""Retention of records (ISO-09, DI-A3): when a record may stop being kept, by its type's
declared ``Retention``. The core only computes and shows the date and lists records past it;
nothing deletes a record, its history or its files (there is no such path), and disposal stays
a signed workflow step where a plugin declares one (documents)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import String, cast, func, select

from core.audit.models import AuditEntry
from core.db import db, utcnow
from core.due import add_months
from core.records.models import Record
from core.specs import RecordType, Retention
from core.workflows.categories import states_in

ENDED = ("closed", "cancelled")


def record_type_of(record: Record) -> RecordType | None:
    return current_app.extensions["cqms"].registry.record_types.get(record.type)


def closed_at(record: Record) -> datetime | None:
    """When the record took its latest workflow step, if that ended it (closed or cancelled
    now); None while it is open."""
    if record.state not in states_in(record.type, *ENDED):
        return None
    return db.session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == "transition",
            AuditEntry.entity_type == record.audit_entity_type,
            AuditEntry.entity_id == str(record.id)))


def retain_until(record: Record) -> date | None:
    """The last day the record must be kept; None when not known yet (open record, a plugin
    rule that has no date yet) or when its type declares no retention (kept indefinitely)."""
    rt = record_type_of(record)
    policy = rt.retention if rt else None
    if policy is None:
        return None
    if policy.rule is not None:
        until = policy.rule(record)
        return until.date() if isinstance(until, datetime) else until
    since = record.created_at if policy.counted_from == "created" else closed_at(record)
    return add_months(since.date(), 12 * policy.years) if since is not None else None


def policy_text(policy: Retention | None) -> str:
    """The declared policy in words."""
    if policy is None:
        return "kept indefinitely (its type declares no retention period)"
    if policy.rule is not None:
        return policy.rule_text
    years = f"{policy.years} year{'s' if policy.years != 1 else ''}"
    return f"{years} after it was {'created' if policy.counted_from == 'created' else 'closed'}"


def retention_text(record: Record) -> str:
    """One line for the record page: until when it is kept and why."""
    rt = record_type_of(record)
    policy = rt.retention if rt else None
    rule = policy_text(policy)
    if policy is None:
        return rule[0].upper() + rule[1:] + "."
    until = retain_until(record)
    if until is None:
        return f"Kept for {rule}; the date is set when that happens."
    past = " The retention period is over: it may be disposed of only through a signed step."
    return f"Kept until {until.isoformat()} ({rule}).{past if is_past(until) else ''}"


def is_past(until: date | None) -> bool:
    return until is not None and until < utcnow().date()


def past_retention_ids(record_type: RecordType) -> list[int]:
    """The ids of the type's records whose retention period is over (none for a type without
    one). Years after closing or creation are judged in SQL; a plugin rule record by record,
    on the ended records only."""
    policy = record_type.retention
    model = record_type.model
    if policy is None:
        return []
    if policy.rule is not None:
        ended = db.session.scalars(select(model).where(
            Record.state.in_(states_in(record_type.key, *ENDED))))
        return [r.id for r in ended if is_past(retain_until(r))]
    cutoff = add_months(utcnow().date(), -12 * policy.years)
    if policy.counted_from == "created":
        return list(db.session.scalars(
            select(model.id).where(Record.created_at < _start_of(cutoff))))
    closing = (select(AuditEntry.entity_id, func.max(AuditEntry.at).label("at"))
               .where(AuditEntry.action == "transition",
                      AuditEntry.entity_type == model.__mapper__.local_table.name)
               .group_by(AuditEntry.entity_id).subquery())
    return list(db.session.scalars(
        select(model.id).join(closing, closing.c.entity_id == cast(Record.id, String))
        .where(Record.state.in_(states_in(record_type.key, *ENDED)),
               closing.c.at < _start_of(cutoff))))


def _start_of(day: date) -> Any:
    """Midnight UTC at the start of ``day`` (closed before it: its anniversary has passed)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

"""Filtering the audit trail: one allow-list for the admin viewer and the API, within what the
user may see (``core.records.audit_scope``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from core.audit.models import AuditEntry
from core.db import db
from core.records.access import readable
from core.records.audit_scope import visible_entries
from core.records.models import Record

TEXT_FILTERS = {
    "entity_type": AuditEntry.entity_type,
    "entity_id": AuditEntry.entity_id,
    "action": AuditEntry.action,
    "field": AuditEntry.field,
    "actor": AuditEntry.actor_name,
}
FILTERS = frozenset({*TEXT_FILTERS, "record", "since", "until"})


class FilterError(ValueError):
    """A filter that cannot be applied; the message names it."""


def record_conditions(record: Any) -> tuple[Any, ...]:
    """Conditions selecting the entries of ``record`` (all its tables)."""
    tables = [t.name for t in record.__mapper__.tables]
    return AuditEntry.entity_type.in_(tables), AuditEntry.entity_id == str(record.id)


def _day(name: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return datetime.strptime(str(value).strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise FilterError(f"{name}: use the date format YYYY-MM-DD") from None


def audit_query(filters: Mapping[str, Any], user: Any) -> Select[tuple[AuditEntry]]:
    """Entries ``user`` may see matching ``filters`` (newest first); FilterError on an unknown
    filter or value. A record ``user`` may not read is named as one that does not exist."""
    unknown = set(filters) - FILTERS
    if unknown:
        raise FilterError(f"Unknown filter: {', '.join(sorted(unknown))}")
    stmt = select(AuditEntry).where(visible_entries(user))
    for name, column in TEXT_FILTERS.items():
        value = str(filters.get(name) or "").strip()
        if value:
            stmt = stmt.where(column.contains(value, autoescape=True) if name == "actor"
                              else column == value)
    number = str(filters.get("record") or "").strip()
    if number:
        record = db.session.scalar(select(Record).where(Record.number == number,
                                                        readable(user, Record.id)))
        if record is None:
            raise FilterError(f"record: no record is numbered {number!r}")
        stmt = stmt.where(*record_conditions(record))
    if filters.get("since"):
        stmt = stmt.where(AuditEntry.at >= _day("since", filters["since"]))
    if filters.get("until"):
        stmt = stmt.where(AuditEntry.at < _day("until", filters["until"]) + timedelta(days=1))
    return stmt.order_by(AuditEntry.id.desc())

"""Which audit entries a user may see: one SQL condition for every path that lists them.

An entry about a record (its fields and events, or a row that points at records: a link,
signature, attachment, task, notification, a plugin's item) is visible to those who may read
every record it points at. An entry about no record (accounts, roles, settings, plugins) needs
``core.audit.view`` held globally. Which tables point at records is read from the registered
models' foreign keys, so a plugin's own items follow the rule without declaring anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import current_app
from sqlalchemy import Column, String, Table, and_, cast, not_, or_, select

from core.audit.models import AuditEntry
from core.permissions import may_act_in
from core.records.access import readable_records
from core.records.models import Record

AUDIT_VIEW = "core.audit.view"


def _models() -> Iterator[type]:
    for models in current_app.extensions["cqms"].registry.models.values():
        yield from models


def record_tables() -> frozenset[str]:
    """Tables whose rows are records (``core_record`` and each type's own table)."""
    return frozenset(table.name for model in _models() if issubclass(model, Record)
                     for table in model.__mapper__.tables)


def pointing_tables(records: frozenset[str]) -> list[tuple[Table, Column[Any], list[Column[Any]]]]:
    """(table, key, columns) of each other table with a one-column key whose foreign keys
    point at records."""
    found = []
    for model in _models():
        table = getattr(model, "__table__", None)
        if issubclass(model, Record) or not isinstance(table, Table):
            continue
        keys = list(table.primary_key.columns)
        columns = [c for c in table.columns
                   if any(fk.column.table.name in records for fk in c.foreign_keys)]
        if len(keys) == 1 and columns:
            found.append((table, keys[0], columns))
    return found


def visible_entries(user: Any) -> Any:
    """A condition on ``AuditEntry``: the entries ``user`` may see."""
    records = record_tables()
    readable = readable_records(user).subquery()
    shown = [and_(AuditEntry.entity_type.in_(records),
                  AuditEntry.entity_id.in_(select(cast(readable.c.id, String))))]
    about_records = [AuditEntry.entity_type.in_(records)]
    for table, key, columns in pointing_tables(records):
        pointing = or_(*[c.is_not(None) for c in columns])
        all_readable = [or_(c.is_(None), c.in_(select(readable.c.id))) for c in columns]
        of_table = AuditEntry.entity_type == table.name
        shown.append(and_(of_table, AuditEntry.entity_id.in_(
            select(cast(key, String)).where(pointing, *all_readable))))
        about_records.append(and_(of_table, AuditEntry.entity_id.in_(
            select(cast(key, String)).where(pointing))))
    if may_act_in(user, AUDIT_VIEW):  # held globally: entries about no record too
        shown.append(not_(or_(*about_records)))
    return or_(*shown)

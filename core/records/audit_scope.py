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
from sqlalchemy import Column, String, Table, and_, cast, not_, or_, select, true

from core.audit.models import AuditEntry
from core.permissions import may_act_in
from core.records.access import readable_records, reads_all
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


def _about(entity_type: Any, table: Table, key: Column[Any], columns: list[Column[Any]]) -> Any:
    """Entries about rows of ``table`` that point at a record."""
    of_table = entity_type == table.name
    if any(not c.nullable for c in columns):
        return of_table
    return and_(of_table, AuditEntry.entity_id.in_(
        select(cast(key, String)).where(or_(*[c.is_not(None) for c in columns]))))


def _point_at(columns: list[Column[Any]], readable: Any) -> list[Any]:
    """Conditions on a row: it points at a record, and only at records in ``readable``."""
    conditions = [] if any(not c.nullable for c in columns) else [
        or_(*[c.is_not(None) for c in columns])]
    for column in columns:
        inside = column.in_(readable)
        conditions.append(inside if not column.nullable else or_(column.is_(None), inside))
    return conditions


def visible_entries(user: Any) -> Any:
    """A condition on ``AuditEntry``: the entries ``user`` may see."""
    global_view = may_act_in(user, AUDIT_VIEW)  # held globally: entries about no record too
    everything = reads_all(user)
    if global_view and everything:
        return true()
    records = record_tables()
    pointing = pointing_tables(records)
    # Not indexable on purpose: SQLite would otherwise collect every visible entry by the
    # entity index and sort them all for each page, instead of reading newest first.
    entity_type = AuditEntry.entity_type.concat("")
    about = [entity_type.in_(records), *(_about(entity_type, *p) for p in pointing)]
    if everything:
        return or_(*about)
    # Computed once per query, however many tables point at records.
    readable = readable_records(user).cte("readable_record")
    ids, texts = select(readable.c.id), select(cast(readable.c.id, String))
    shown = [and_(entity_type.in_(records), AuditEntry.entity_id.in_(texts))]
    for table, key, columns in pointing:
        shown.append(and_(entity_type == table.name, AuditEntry.entity_id.in_(
            select(cast(key, String)).where(*_point_at(columns, ids)))))
    if global_view:
        shown.append(not_(or_(*about)))
    return or_(*shown)

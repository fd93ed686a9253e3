"""Reconciler for ``cqms audit verify``: every row of every audited table agrees with the trail.

The audit listener writes each created, changed and deleted column of an audited model (records
with their state and owner, accounts, role grants, permissions, signatures, settings...). So the
last value the trail holds for a column is the value the row must have now. A row changed,
inserted or deleted in SQL, past the application, disagrees with the (keyed, hence unforgeable)
trail, and is reported by record number (or table and id) and field. Not compared: columns a
model excludes from its trail (``__audit_ignore__``: counters and caches), the version counter
and updated-at stamps the ORM maintains (bookkeeping: the trail's own times and versions are
authoritative), columns whose updates other entries carry (``__audit_updates_elsewhere__``: a
record's content hash, recomputed by ``core.records.reconcile``; its state is read from its
transition events), and a column the trail never mentions that holds its default (rows
bootstrapped before every column was recorded). Redacted columns (secrets) are compared for
presence only. A model audited as events (a signature) is read from the JSON its events carry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import Select

from core.audit.listener import derived_columns, format_value
from core.audit.models import AuditEntry
from core.audit.verify import Finding
from core.db import Base

ROW_ACTIONS = ("create", "update", "delete")
STATE_EVENT = "transition"
LABELLED_ID = re.compile(r"\(#([^()]*)\)$")  # a foreign key as the listener writes it
SHOWN = 60


@dataclass
class EntityTrail:
    """What the trail says of one row: each column's last value, and whether it was deleted."""

    values: dict[str, str | None] = field(default_factory=dict)
    deleted: bool = False


def audited_mappers(connection: Connection) -> list[Mapper[Any]]:
    """Mappers whose rows the listener audits and whose tables this database has, each under
    the table it writes entries for (a joined-inheritance record under its own table)."""
    present = set(inspect(connection).get_table_names())
    found = []
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__audit__", False) and {
                t.name for t in mapper.tables} <= present:
            found.append(mapper)
    return sorted(found, key=lambda m: (m.local_table.name, m.class_.__name__))


def _event_tables(mappers: list[Mapper[Any]]) -> dict[str, tuple[str, str]]:
    """Event kinds that carry a row of a model audited as events: kind -> (table, row action)."""
    kinds = {}
    for mapper in mappers:
        for action, kind in (getattr(mapper.class_, "__audit_events__", None) or {}).items():
            kinds[kind] = (mapper.local_table.name, action)
    return kinds


def trail_query(kinds: tuple[str, ...]) -> Select[Any]:
    """The entries the reconciler replays, in chain order (through ix_core_audit_entry_action
    or the primary key: tests/test_audit_fast_canonical.py reads the plans)."""
    return (select(AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.action,
                   AuditEntry.field, AuditEntry.new_value)
            .where(AuditEntry.action.in_(kinds))
            .order_by(AuditEntry.id))


def _trail(connection: Connection, tables: set[str],
           events: dict[str, tuple[str, str]]) -> dict[tuple[str, str], EntityTrail]:
    entities: dict[tuple[str, str], EntityTrail] = {}

    def entity_of(key: tuple[str, str]) -> EntityTrail:
        if key not in entities:
            entities[key] = EntityTrail()
        return entities[key]

    stmt = trail_query((*ROW_ACTIONS, *events, STATE_EVENT))
    for table, entity_id, action, name, value in connection.execution_options(
            yield_per=5000).execute(stmt):
        if action in events:  # one event carrying a row's columns (a signature)
            table, action = events[action]
            carried = _carried(value)
            if "id" not in carried:  # an older event beside per-column entries of the row
                continue
            entity = entity_of((table, str(carried.pop("id"))))
            entity.values.update(carried)
            continue
        if table not in tables:
            continue
        entity = entity_of((table, entity_id))
        if action == STATE_EVENT:  # a record's state lives in its transition events
            entity.values["state"] = value
        elif action == "delete":
            entity.deleted = True
            entity.values.pop(name, None)
        else:
            if action == "create" and entity.deleted:  # a row re-created under the same key
                entity.deleted, entity.values = False, {}
            entity.values[name] = value
    return entities


def _carried(value: str | None) -> dict[str, Any]:
    try:
        carried = json.loads(value or "{}")
    except ValueError:
        return {}
    return carried if isinstance(carried, dict) else {}


def _rows(connection: Connection, mapper: Mapper[Any]) -> Iterator[dict[str, Any]]:
    columns = [attr.columns[0].label(attr.key) for attr in mapper.column_attrs]
    stmt = select(*columns).select_from(mapper.persist_selectable)
    if mapper.polymorphic_on is not None:
        # Only rows of exactly this class: a subclass's rows are audited under its own table.
        stmt = stmt.where(mapper.polymorphic_on == mapper.polymorphic_identity)
    result = connection.execution_options(yield_per=2000).execute(
        stmt.order_by(*mapper.primary_key))
    for row in result.mappings():
        yield dict(row)


def _same(column: Any, expected: str | None, actual: Any, redacted: bool) -> bool:
    if redacted or expected is None or actual is None:
        return (expected is None) == (actual is None)
    if column.foreign_keys and (match := LABELLED_ID.search(expected)):
        expected = match.group(1)
    if format_value(actual) == expected:
        return True
    try:  # the same value written another way (a timestamp's zone, a decimal's scale)
        if isinstance(actual, datetime):
            return datetime.fromisoformat(expected) == actual
        if isinstance(actual, int | float | Decimal) and not isinstance(actual, bool):
            return Decimal(expected) == Decimal(str(actual))
    except (ValueError, InvalidOperation):
        return False
    return False


def _defaulted(column: Any, value: Any) -> bool:
    if column.server_default is not None:
        return True
    default = column.default
    if default is None:
        return False
    return not default.is_scalar or default.arg == value


def _shown(value: Any) -> str:
    text = "nothing" if value is None else repr(format_value(value))
    return text if len(text) <= SHOWN else text[:SHOWN - 4] + "...'"


RECORD_TABLE = "core_record"


class _Names:
    """How findings name a row: a record by its number, a row of a record (a signature, an
    attachment) with its record's number, looked up once when first needed."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.numbers: dict[Any, str] | None = None

    def __call__(self, mapper: Mapper[Any], entity_id: str, row: dict[str, Any]) -> str:
        table = mapper.local_table.name
        if row.get("number"):
            return f"{row['number']} ({table} {entity_id})"
        if row.get("record_id") is None:
            return f"{table} {entity_id}"
        if self.numbers is None:
            records = Base.metadata.tables[RECORD_TABLE]  # by name: audit sits below records
            self.numbers = dict(self.connection.execute(
                select(records.c.id, records.c.number)).all())
        return f"{table} {entity_id} (record {self.numbers.get(row['record_id'], '?')})"


def reconcile_audited_rows(connection: Connection, report: Any) -> None:
    """Compare every audited row with the last values the audit trail holds for it."""
    mappers = audited_mappers(connection)
    trail = _trail(connection, {m.local_table.name for m in mappers}, _event_tables(mappers))
    name = _Names(connection)
    for mapper in mappers:
        table = mapper.local_table.name
        ignore = getattr(mapper.class_, "__audit_ignore__", frozenset())
        redact = getattr(mapper.class_, "__audit_redact__", frozenset())
        skip = set(ignore) | derived_columns(mapper)
        attrs = [attr for attr in mapper.column_attrs if attr.key not in skip]
        for row in _rows(connection, mapper):
            entity_id = ",".join(format_value(row[c.key]) or "" for c in mapper.primary_key)
            known = trail.pop((table, entity_id), None)
            if known is None:
                report.add(Finding(None, name(mapper, entity_id, row), "row is not in the audit "
                                   "trail (inserted outside the application)"))
                continue
            if known.deleted:
                report.add(Finding(None, name(mapper, entity_id, row), "row was deleted "
                                   "according to the audit trail but is present (restored "
                                   "outside the application)"))
                continue
            for attr in attrs:
                column = attr.columns[0]
                expected = known.values.get(attr.key)
                if attr.key not in known.values and _defaulted(column, row[attr.key]):
                    continue  # filled in by a default the listener never saw
                if not _same(column, expected, row[attr.key], attr.key in redact):
                    shown = "(redacted)" if attr.key in redact else _shown(row[attr.key])
                    report.add(Finding(None, name(mapper, entity_id, row),
                                       f"field {attr.key}: {shown} in the table, "
                                       f"{_shown(expected)} in the audit trail (changed "
                                       "outside the application)"))
    by_table = {m.local_table.name: m for m in mappers}
    for (table, entity_id), known in trail.items():
        mapper = by_table.get(table)
        if mapper is not None and not known.deleted:
            report.add(Finding(None, name(mapper, entity_id, {"number": known.values.get(
                "number")}), "row is in the audit trail but missing from the table (deleted "
                "outside the application)"))


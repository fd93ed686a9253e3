"""Session listeners: one audit entry per changed field of every audited model, same transaction.

Models opt in with ``__audit__ = True``; the core's own account, study, setting and plugin-state
models all do. ``__audit_redact__`` names secret columns (recorded as changed, value hidden),
``__audit_ignore__`` counters already covered by events (failed logins) and
``__audit_updates_elsewhere__`` columns whose changes other entries carry (a record's state: its
transition event; its content hash: recomputed by verify). A model with ``__audit_events__``
(``{"create": kind, "update": kind}``) is written as one event per change carrying its columns
(a signature is one ``signature.applied`` event on its record). Nothing can turn the
listeners off: they are attached to the session class when the core is imported.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.util import identity_key

from core.audit import chain
from core.audit.context import current_context
from core.audit.models import AuditEntry
from core.db import Base, utcnow

REDACTED = "(redacted)"
OLD_VALUES = "cqms_audit_old_values"


class AuditError(RuntimeError):
    """An audited write could not be attributed, or someone tried to alter the audit trail."""


def format_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


@cache
def _class_for_table(table_name: str) -> type | None:
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table_name:
            return mapper.class_
    return None


LABELS = "cqms_audit_labels"


@cache
def _label_query(target: type, label_column: str) -> Any:
    """The one-column read of a row's label, built once per model."""
    pk = target.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    return select(getattr(target, label_column)).where(pk == bindparam("key"))


def _label(session: Session, column: Any, value: Any) -> str | None:
    """Render a foreign key as ``label (#id)`` so the trail is legible without joins.

    Labels are cached for the flush; a model naming ``__audit_label_column__`` is labelled
    with one column read instead of loading the whole object."""
    text = format_value(value)
    if value is None or not column.foreign_keys:
        return text
    target = _class_for_table(next(iter(column.foreign_keys)).column.table.name)
    if target is None or not hasattr(target, "audit_label"):
        return text
    labels = session.info.setdefault(LABELS, {})
    key = (target, value)
    if key not in labels:
        label_column = getattr(target, "__audit_label_column__", None)
        held = _held_label(session, target, value, label_column)
        with session.no_autoflush:
            if held is not None:
                label = held
            elif label_column is not None:
                label = session.execute(_label_query(target, label_column),
                                        {"key": value}).scalar()
            else:
                obj = session.get(target, value)
                label = obj.audit_label() if obj is not None else None
        labels[key] = label
    label = labels[key]
    return f"{label} (#{value})" if label is not None else text


def _held_label(session: Session, target: type, value: Any, label_column: str | None) -> Any:
    """The label of a row the session already holds with its label column loaded (the acting
    user, a record's owner), read without a query; None when it must be read."""
    if label_column is None:
        return None
    try:
        obj = session.identity_map.get(identity_key(target, value))
    except (TypeError, ValueError):
        return None
    if obj is None:
        return None
    return inspect(obj).dict.get(label_column)


def _actor(ctx_actor_id: int | None, ctx_actor_name: str) -> tuple[int, str]:
    if ctx_actor_id is not None:
        return ctx_actor_id, ctx_actor_name
    from flask import has_request_context
    from flask_login import current_user

    if has_request_context() and current_user.is_authenticated:
        return current_user.id, current_user.printed_name
    raise AuditError("an audited change has no actor: sign in, or run as the system principal")


def current_actor() -> tuple[int, str]:
    """Who a change made now is attributed to: the audit context's actor, else the signed-in
    user (AuditError when there is neither)."""
    ctx = current_context()
    return _actor(ctx.actor_id, ctx.actor_name)


def _rows_for(session: Session, obj: Any, action: str) -> list[dict[str, Any]]:
    rows = _field_rows(session, obj, action)
    events = getattr(obj, "__audit_events__", None)
    if events is None or not rows:
        return rows
    return [_as_event(obj, events[action], rows)]


def _as_event(obj: Any, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One event for a model audited as events (a signature: ``signature.applied``): its
    changed columns as a JSON object, on the entity its ``audit_event_target()`` names."""
    entity_type, entity_id, entity_version = obj.audit_event_target()
    values = {"id": rows[0]["entity_id"], **{row["field"]: row["new_value"] for row in rows}}
    return {"entity_type": entity_type, "entity_id": str(entity_id),
            "entity_version": entity_version, "action": kind,
            "field": getattr(obj, "__audit_event_field__", rows[0]["entity_type"]),
            "old_value": None, "new_value": json.dumps(values, sort_keys=True,
                                                       ensure_ascii=False)}


@cache
def derived_columns(mapper: Any) -> frozenset[str]:
    """Columns the trail carries without rows of their own, so neither written at creation nor
    compared by the reconciler: the primary key (each entry's entity id), the version and
    updated-at stamps the ORM keeps (each entry's version and time), and the columns whose
    updates other entries carry (``__audit_updates_elsewhere__``: a record's content hash,
    recomputed from its content; who updated it, each entry's actor), except a record's state,
    which its creation states."""
    names = {column.key for column in mapper.primary_key}
    names |= {attr.key for attr in mapper.column_attrs
              if attr.columns[0].onupdate is not None or attr.columns[0] is mapper.version_id_col}
    names |= set(getattr(mapper.class_, "__audit_updates_elsewhere__", ())) - {"state"}
    return frozenset(names)


def _empty_by_default(column: Any, value: Any) -> bool:
    """An empty text the column defaults to (in Python, not on the server): like a None, the
    creation need not state it, and the reconciler still finds any other value set later."""
    default = column.default
    return (value == "" and column.server_default is None and default is not None
            and default.is_scalar and default.arg == "")


def unstated_at_create(mapper: Any) -> dict[str, str]:
    """The empty texts a creation leaves unstated (``_empty_by_default``): what a reader of the
    trail takes such a column to hold until an update says otherwise."""
    return {attr.key: "" for attr in mapper.column_attrs
            if attr.key not in derived_columns(mapper) and _empty_by_default(attr.columns[0], "")}


def _field_rows(session: Session, obj: Any, action: str) -> list[dict[str, Any]]:
    state = inspect(obj)
    mapper = state.mapper
    redact = getattr(obj, "__audit_redact__", frozenset())
    ignore = getattr(obj, "__audit_ignore__", frozenset())
    if action == "update":
        ignore = ignore | getattr(obj, "__audit_updates_elsewhere__", frozenset())
    elif action == "create":
        ignore = ignore | derived_columns(mapper)
    entity_id = ",".join(format_value(v) or "" for v in mapper.primary_key_from_instance(obj))
    version = getattr(obj, "version", None)
    entity_version = version if isinstance(version, int) else None
    rows = []
    for attr in mapper.column_attrs:
        key = attr.key
        if key in ignore:
            continue
        column = attr.columns[0]
        if action == "create":
            old, new = None, state.dict.get(key)
            if new is None or _empty_by_default(column, new):
                continue
        elif action == "delete":
            old, new = state.dict.get(key), None
            if old is None:
                continue
        else:
            history = state.attrs[key].history
            if not history.has_changes():
                continue
            if history.deleted:
                old = history.deleted[0]
            else:
                old = session.info.get(OLD_VALUES, {}).get((id(obj), key))
            new = history.added[0] if history.added else None
            if old == new:
                continue
        if key in redact:
            old_text = REDACTED if old is not None else None
            new_text = REDACTED if new is not None else None
        else:
            old_text, new_text = _label(session, column, old), _label(session, column, new)
        rows.append(
            {
                "entity_type": mapper.local_table.name,
                "entity_id": entity_id,
                "entity_version": entity_version,
                "action": action,
                "field": key,
                "old_value": old_text,
                "new_value": new_text,
            }
        )
    return rows


def _is_audited(obj: Any) -> bool:
    return bool(getattr(obj, "__audit__", False))


def _capture_unloaded_old_values(session: Session) -> None:
    """Read, before the UPDATE runs, the stored value of changed attributes that were never
    loaded (e.g. set on an object expired by a commit), so the entry shows the real old value."""
    captured: dict[tuple[int, str], Any] = {}
    for obj in session.dirty:
        if not _is_audited(obj):
            continue
        state = inspect(obj)
        keys = [
            attr.key
            for attr in state.mapper.column_attrs
            if (h := state.attrs[attr.key].history).added and not h.deleted and not h.unchanged
        ]
        if not keys or state.identity is None:
            continue
        mapper = state.mapper
        columns = [mapper.get_property(k).columns[0] for k in keys]
        where = [c == v for c, v in zip(mapper.primary_key, state.identity, strict=True)]
        # From the mapper's own join: a subclass column with the base table's key would
        # otherwise make a cartesian product and read another row's value.
        stmt = select(*columns).select_from(mapper.persist_selectable).where(*where)
        row = session.connection().execute(stmt).first()
        if row is not None:
            captured.update({(id(obj), k): v for k, v in zip(keys, row, strict=True)})
    session.info[OLD_VALUES] = captured


def _before_flush(session: Session, _flush_context: UOWTransaction, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise AuditError("audit entries are append-only: update and delete are refused")
    _capture_unloaded_old_values(session)


def _deleted_by(session: Session, flush_context: UOWTransaction) -> list[Any]:
    """Objects this flush deletes, including delete-orphans (an item removed from a
    ``cascade="delete-orphan"`` collection), which the flush finds itself and which therefore
    never appear in ``session.deleted``."""
    deleted = list(session.deleted)
    seen = {id(obj) for obj in deleted}
    for state, (isdelete, listonly) in flush_context.states.items():
        obj = state.obj()
        if isdelete and not listonly and obj is not None and id(obj) not in seen:
            deleted.append(obj)
            seen.add(id(obj))
    return deleted


def _write_entries(session: Session, flush_context: UOWTransaction) -> None:
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if _is_audited(obj):
            rows.extend(_rows_for(session, obj, "create"))
    for obj in session.dirty:
        if _is_audited(obj) and session.is_modified(obj, include_collections=False):
            rows.extend(_rows_for(session, obj, "update"))
    for obj in _deleted_by(session, flush_context):
        if _is_audited(obj):
            rows.extend(_rows_for(session, obj, "delete"))
    session.info.pop(OLD_VALUES, None)
    session.info.pop(LABELS, None)
    if not rows:
        return
    ctx = current_context()
    actor_id, actor_name = _actor(ctx.actor_id, ctx.actor_name)
    now = utcnow()
    stamp = {
        "at": now,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "reason": ctx.reason,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "client": ctx.client,
    }
    chain.append(session.connection(), [{**stamp, **row} for row in rows], session.info)


def _refuse_unaudited_bulk(state: ORMExecuteState) -> None:
    """ORM bulk UPDATE/DELETE statements skip the flush, so they would skip the audit trail:
    refused on audited models, except an UPDATE touching only ``__audit_ignore__`` columns.
    (SQL typed past the ORM is what the chain and the reconcilers exist to find.)"""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_arguments.get("mapper")
    model = mapper.class_ if mapper is not None else None
    if model is None or not _is_audited(model):
        return
    if state.is_update:
        ignored = getattr(model, "__audit_ignore__", frozenset())
        columns = {getattr(c, "key", str(c)) for c in state.statement._values or ()}
        if columns and columns <= ignored:
            return
    raise AuditError(f"a bulk {'UPDATE' if state.is_update else 'DELETE'} of {model.__name__} "
                     "would bypass the audit trail: load the objects and change them instead")


def install() -> None:
    """Attach the listeners to the session class used by the app (idempotent)."""
    if not event.contains(FlaskSession, "do_orm_execute", _refuse_unaudited_bulk):
        event.listen(FlaskSession, "do_orm_execute", _refuse_unaudited_bulk)
    for name, fn in (("before_flush", _before_flush), ("after_flush", _write_entries)):
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()

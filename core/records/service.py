"""Creating and changing records, and linking them: the services plugins call."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from core.audit.context import acting_as, audit_reason
from core.db import db
from core.errors import ConflictError, ValidationError
from core.permissions import has_permission
from core.reactions.service import queue as queue_reactions
from core.records.family import children_of, parent_scope
from core.records.models import Record
from core.records.scope import check_owner, require_write, target_scope
from core.specs import RecordType
from core.users.models import User

# Fields the server owns: never set from input (state only moves through transitions).
SERVER_OWNED = frozenset({"id", "type", "number", "state", "version", "content_hash",
                          "attachments_digest", "created_at", "created_by_id", "updated_at",
                          "updated_by_id"})
BASE_EDITABLE = ("title", "owner_id", "study_id", "site_id")


def type_enabled(key: str) -> bool:
    """Whether the plugin declaring record type ``key`` is enabled. A disabled plugin's records
    do not exist for anyone (404 on every path, left out of every list); their data is kept."""
    host = current_app.extensions["cqms"].host
    owner = host.owner_of(key)
    return owner is None or host.is_enabled(owner)


def record_type(key: str) -> RecordType:
    """The record type ``key`` of an enabled plugin (ValidationError naming ``type`` else)."""
    types = current_app.extensions["cqms"].registry.record_types
    if key not in types or not type_enabled(key):
        raise ValidationError({"type": f"Unknown record type {key!r}."})
    return types[key]


def may_read(record: Record, user: Any) -> bool:
    """Whether ``user`` holds the view permission of the record's type in its study/site, and
    the record passes the type's ``read_filter`` (if it declares one); never when the type's
    plugin is disabled."""
    rt = current_app.extensions["cqms"].registry.record_types.get(record.type)
    if not (rt and rt.view_permission and type_enabled(rt.key) and has_permission(
            user, rt.view_permission, study=record.study, site=record.site)):
        return False
    clause = read_clause(rt, user)
    if clause is None:
        return True
    return db.session.scalar(select(Record.id).select_from(rt.model).where(
        Record.id == record.id, clause)) is not None


def read_clause(rt: RecordType, user: Any) -> Any:
    """The type's extra read condition for ``user`` (None: every record in scope)."""
    return rt.read_filter(user) if rt.read_filter is not None else None


def _editable(rt: RecordType) -> set[str]:
    mapper = rt.model.__mapper__
    return {attr.key for attr in mapper.column_attrs} - SERVER_OWNED


def _check_fields(rt: RecordType, values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - _editable(rt))
    if unknown:
        raise ValidationError({name: "Unknown or read-only field." for name in unknown})


def create_record(type_key: str, user: User, *, reason: str = "", **values: Any) -> Record:
    """Create a record of ``type_key`` owned by ``user`` (unless ``owner_id`` is given), in the
    workflow's initial state, with the next human number. Flushes; the caller commits.

    ``user`` needs the type's permission in the record's study/site (PermissionDenied); a given
    owner must be allowed to own it there, and a child record takes its parent's study/site
    (ValidationError naming the field)."""

    rt = record_type(type_key)
    _check_fields(rt, values)
    values = parent_scope(rt, values)
    study_id, site_id = target_scope(None, values)
    if site_id is not None:
        values["study_id"] = study_id
    require_write(rt, user, study_id, site_id)
    if values.get("owner_id") is not None:
        check_owner(rt, values["owner_id"], study_id, site_id)
    if not (values.get("title") or "").strip():
        raise ValidationError({"title": "A title is required."})
    workflow = current_app.extensions["cqms"].registry.workflows[rt.workflow]
    record = rt.model(**values)
    record.state = workflow.initial
    record.owner_id = values.get("owner_id") or user.id
    record.created_by_id = record.updated_by_id = user.id
    record.content_hash = ""
    host = current_app.extensions["cqms"].host
    record.number = host.hook_for_enabled("next_record_number")(record_type=rt, record=record)
    with acting_as(user), audit_reason(reason or "Record created"):
        db.session.add(record)
        db.session.flush()
    queue_reactions("record_created", record=record)
    return record


def update_record(record: Record, user: User, *, expected_version: int, reason: str = "",
                  **changes: Any) -> Record:
    """Change fields of ``record``; refuses a stale ``expected_version`` (409) and, past draft,
    a change without a reason (422). Flushes; the caller commits.

    ``user`` needs the type's permission where the record is and, when it moves, where it goes
    (PermissionDenied); its child records move with it. A new owner must be allowed to own it
    there (ValidationError naming ``owner_id``)."""
    rt = record_type(record.type)
    _check_fields(rt, changes)
    require_write(rt, user, record.study_id, record.site_id)
    study_id, site_id = target_scope(record, changes)
    moved = (study_id, site_id) != (record.study_id, record.site_id)
    if moved:
        require_write(rt, user, study_id, site_id)
        if rt.scope_parent:
            raise ValidationError({"site_id": f"{record.number} is where its parent record is: "
                                              "move the parent instead."})
    if "owner_id" in changes and changes["owner_id"] != record.owner_id:
        check_owner(rt, changes["owner_id"], study_id, site_id)
    if expected_version != record.version:
        raise ConflictError(f"{record.number} was changed by someone else (now version "
                            f"{record.version}, you edited {expected_version}); reload it")
    if "title" in changes and not (changes["title"] or "").strip():
        raise ValidationError({"title": "A title is required."})
    number = record.number  # a failed flush expires the record: name it without reloading
    with acting_as(user), audit_reason(reason.strip()):
        if moved:
            changes = {**changes, "study_id": study_id, "site_id": site_id}
            _move_children(record, user, study_id, site_id)
        for name, value in changes.items():
            setattr(record, name, value)
        record.updated_by_id = user.id
        try:
            db.session.flush()
        except StaleDataError:
            raise ConflictError(f"{number} was changed by someone else; reload it") from None
    return record


def _move_children(record: Record, user: User, study_id: int | None,
                   site_id: int | None) -> None:
    """Child records go where their parent goes (each writable by ``user`` where it is)."""
    for child in children_of(record):
        require_write(record_type(child.type), user, child.study_id, child.site_id)
        _move_children(child, user, study_id, site_id)
        child.study_id, child.site_id = study_id, site_id
        child.updated_by_id = user.id

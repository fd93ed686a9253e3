"""Second-person verification of critical, manually entered data (EU Annex 11 §6).

A record type declares ``critical_fields`` and the workflow steps they must be verified before
(``verify_before``). The audit trail is the single source of what happened: each create or
update entry of a critical field carries the record version it produced, and a verification is
a ``record.field_verified`` entry carrying the version the verifier saw. A field is verified
when its latest verification is at (or after) the version of its latest change, so a later
change voids the verification without anything else to keep in step. The verifier is another
person than the record's author and than whoever last changed the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.audit.listener import format_value
from core.audit.models import AuditEntry
from core.audit.service import record_event
from core.db import db
from core.errors import ConflictError, PermissionDenied, StartupError, ValidationError
from core.permissions import may_act_in
from core.records.audit_query import record_conditions
from core.records.models import Record
from core.records.service import SERVER_OWNED
from core.specs import RecordType, Workflow, key_words

VERIFIED = "record.field_verified"
CHANGES = ("create", "update")


@dataclass(frozen=True)
class FieldCheck:
    """Where one critical field of a record stands: its last change and last verification."""

    field: str
    label: str
    changed_by_id: int | None
    changed_by: str
    changed_at: datetime | None
    changed_version: int | None
    verified_by_id: int | None = None
    verified_by: str = ""
    verified_at: datetime | None = None
    verified_version: int | None = None

    @property
    def needs_verification(self) -> bool:
        """Entered or changed, and not verified since."""
        if self.changed_version is None:
            return False
        return self.verified_version is None or self.verified_version < self.changed_version


def check_declaration(plugin: str, rt: RecordType, workflow: Workflow) -> None:
    """Start-up check of a record type's ``critical_fields`` and ``verify_before``."""
    where = f"plugin {plugin!r}: record type {rt.key!r}"
    if bool(rt.critical_fields) != bool(rt.verify_before):
        raise StartupError(f"{where}: critical_fields and verify_before are declared together "
                           "(the fields, and the steps they must be verified before)")
    columns = {a.key for a in rt.model.__mapper__.column_attrs} - SERVER_OWNED
    unknown = [f for f in rt.critical_fields if f not in columns]
    if unknown:
        raise StartupError(f"{where}: unknown critical fields {unknown}")
    steps = {t.name for t in workflow.transitions}
    missing = [name for name in rt.verify_before if name not in steps]
    if missing:
        raise StartupError(f"{where}: verify_before names unknown transitions {missing}")


def _record_type(record: Record) -> RecordType | None:
    return current_app.extensions["cqms"].registry.record_types.get(record.type)


def field_label(rt: RecordType, name: str) -> str:
    return rt.labels.get(name) or key_words(name)


def critical_field_checks(record: Record) -> list[FieldCheck]:
    """Each critical field of ``record`` with its last change and verification (from the
    trail), in declaration order; empty for a type without critical fields."""
    rt = _record_type(record)
    if rt is None or not rt.critical_fields or record.id is None:
        return []
    entries = db.session.execute(
        select(AuditEntry.field, AuditEntry.action, AuditEntry.actor_id, AuditEntry.actor_name,
               AuditEntry.at, AuditEntry.entity_version)
        .where(*record_conditions(record), AuditEntry.field.in_(rt.critical_fields),
               AuditEntry.action.in_((*CHANGES, VERIFIED)))
        .order_by(AuditEntry.id)).all()
    changed: dict[str, Any] = {}
    verified: dict[str, Any] = {}
    for entry in entries:
        latest = verified if entry.action == VERIFIED else changed
        if entry.field not in latest or (entry.entity_version or 0) >= (
                latest[entry.field].entity_version or 0):
            latest[entry.field] = entry
    checks = []
    for name in rt.critical_fields:
        change, check = changed.get(name), verified.get(name)
        checks.append(FieldCheck(
            name, field_label(rt, name),
            change.actor_id if change else None, change.actor_name if change else "",
            change.at if change else None, change.entity_version if change else None,
            check.actor_id if check else None, check.actor_name if check else "",
            check.at if check else None, check.entity_version if check else None))
    return checks


def unverified(record: Record) -> list[FieldCheck]:
    return [check for check in critical_field_checks(record) if check.needs_verification]


def verification_blockers(record: Record, step: str) -> list[str]:
    """Why the workflow step ``step`` waits for a second person (empty: it does not)."""
    rt = _record_type(record)
    if rt is None or step not in rt.verify_before:
        return []
    return [f"{check.label} must be verified by a second person."
            for check in unverified(record)]


def refusal(record: Record, check: FieldCheck, user: Any) -> str | None:
    """Why ``user`` may not verify ``check`` of ``record`` (None: they may)."""
    rt = _record_type(record)
    permission = (rt.manage_permission or "") if rt is not None else ""
    if getattr(user, "is_service", False):
        return "A person verifies critical data, never the system."
    if not may_act_in(user, permission, study=record.study, site=record.site):
        return f"{permission} is required to verify data of {record.number}."
    if user.id == record.created_by_id:
        return (f"You created {record.number}: a second person verifies its "
                f"\u201c{check.label}\u201d.")
    if user.id == check.changed_by_id:
        return (f"You entered the current \u201c{check.label}\u201d of {record.number}: a "
                "second person verifies it.")
    return None


def may_verify(record: Record, user: Any) -> list[FieldCheck]:
    """The fields of ``record`` waiting for verification that ``user`` may verify now."""
    return [check for check in unverified(record) if refusal(record, check, user) is None]


def shown_value(rt: RecordType, name: str, value: Any) -> str:
    """A value as people read it: the label of a value picked from a list, else the value."""
    pairs = rt.choices.get(name)
    if pairs is not None and value is not None:
        return str(dict(pairs() if callable(pairs) else pairs).get(value, value))
    text = format_value(value)
    return "(empty)" if text in (None, "") else text


def verify_field(record: Record, name: str, user: Any, *, expected_version: int) -> FieldCheck:
    """Record that ``user`` checked the critical field ``name`` of ``record`` as it stands at
    ``expected_version`` (the version they saw). Writes one ``record.field_verified`` audit
    entry naming the verifier, the field and the value; flushes, the caller commits.

    Raises ValidationError naming ``field`` (not a critical field, nothing to verify),
    ConflictError (the record changed since it was read: 409), PermissionDenied (no right, the
    record's author or the field's last editor, the system)."""
    rt = _record_type(record)
    if rt is None or name not in rt.critical_fields:
        raise ValidationError({"field": f"{name!r} is not critical data of {record.number}."})
    if expected_version != record.version:
        raise ConflictError(f"{record.number} changed since you read it (now version "
                            f"{record.version}, you saw {expected_version}): reload it and "
                            "check the value again")
    check = next(c for c in critical_field_checks(record) if c.field == name)
    if not check.needs_verification:
        raise ValidationError({"field": f"\u201c{check.label}\u201d of {record.number} has "
                                        "nothing to verify (verified, or never entered)."})
    refused = refusal(record, check, user)
    if refused is not None:
        raise PermissionDenied(refused)
    value = shown_value(rt, name, getattr(record, name))
    record_event(VERIFIED, record.audit_entity_type, record.id, field=name,
                 new=f"{check.label}: {value}", actor=user, entity_version=record.version,
                 reason="")
    return next(c for c in critical_field_checks(record) if c.field == name)


def perform_verification(record: Record, name: str, user: Any, *,
                         expected_version: int) -> FieldCheck:
    """``verify_field`` as one unit of work for a request: committed, or rolled back and the
    error raised for the caller to show."""
    try:
        check = verify_field(record, name, user, expected_version=expected_version)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return check

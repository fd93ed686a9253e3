"""Protected health information in records (ISO-09): a record type's ``phi_fields`` are
masked for whoever lacks ``core.phi.view`` where the record is (record page and lists, API,
PDFs and certified copies, the record's history), and each time one record's PHI is shown
unmasked (record page, API read of one record, PDF) a ``record.phi_viewed`` entry names the
record and the fields. Lists shown unmasked are not logged one row at a time."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_login import current_user

from core.errors import PermissionDenied
from core.exports.audit import audit_now
from core.permissions import has_permission
from core.records.models import Record

PHI_VIEW = "core.phi.view"
MASK = "Protected health information: hidden"


def phi_fields_of(record: Record) -> tuple[str, ...]:
    rt = current_app.extensions["cqms"].registry.record_types.get(record.type)
    return rt.phi_fields if rt is not None else ()


def may_see_phi(user: Any, record: Record) -> bool:
    """Whether ``user`` holds the PHI permission where the record is."""
    return user is not None and has_permission(user, PHI_VIEW, study=record.study_id,
                                               site=record.site_id)


def hidden_fields(record: Record, user: Any) -> frozenset[str]:
    """The record's PHI fields ``user`` may not see (none when the type tags none)."""
    fields = phi_fields_of(record)
    if not fields or may_see_phi(user, record):
        return frozenset()
    return frozenset(fields)


def masked_value(record: Record, name: str, value: Any, user: Any) -> Any:
    """``value`` of ``name``, or the mask when it is PHI ``user`` may not see (an empty
    value stays empty: there is nothing to protect)."""
    if value in (None, "") or name not in hidden_fields(record, user):
        return value
    return MASK


def mask_values(record: Record, values: dict[str, Any], user: Any) -> dict[str, Any]:
    """A copy of ``values`` (field -> value) with the PHI ``user`` may not see masked."""
    hidden = hidden_fields(record, user)
    return {k: (MASK if k in hidden and v not in (None, "") else v) for k, v in values.items()}


def note_phi_viewed(record: Record, user: Any, where: str) -> None:
    """Audit that ``user`` was shown the record's PHI unmasked (only when the type tags PHI,
    the user may see it and a PHI field holds a value)."""
    fields = [f for f in phi_fields_of(record) if getattr(record, f, None) not in (None, "")]
    if fields and may_see_phi(user, record):
        audit_now("record.phi_viewed", record.audit_entity_type, record.id, field=where,
                  new=", ".join(fields), actor=user, entity_version=record.version)


class MaskedEntry:
    """A history entry as shown to someone who may not see its PHI value: the entry's own
    attributes, its old and new values masked (the stored entry is never touched)."""

    def __init__(self, entry: Any) -> None:
        self._entry = entry
        self.old_value = None if entry.old_value in (None, "") else MASK
        self.new_value = None if entry.new_value in (None, "") else MASK

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)


def visible_entries(record: Record, entries: list[Any], user: Any) -> list[Any]:
    """The record's history entries with the PHI values ``user`` may not see masked."""
    hidden = hidden_fields(record, user)
    if not hidden:
        return entries
    return [MaskedEntry(e) if e.field in hidden and e.entity_type == record.audit_entity_type
            else e for e in entries]


def phi_guarded(record_type: Any, formatters: dict[str, Any]) -> dict[str, Any]:
    """Admin column ``formatters`` with the type's PHI fields masked for whoever may not see
    them (the field's own formatter otherwise)."""
    guarded = dict(formatters)
    for name in record_type.phi_fields:
        guarded[name] = _phi_cell(formatters.get(name))
    return guarded


def _phi_cell(formatter: Any) -> Any:
    def cell(view: Any, context: Any, model: Any, name: str) -> Any:
        value = getattr(model, name, None)
        if masked_value(model, name, value, current_user._get_current_object()) == MASK:
            return MASK
        return formatter(view, context, model, name) if formatter is not None else value
    return cell


def refuse_masked_copy(record: Record, entries: list[Any], user: Any) -> None:
    """A certified copy is complete and true, so it is never masked: refused to whoever may
    not see PHI the record holds now or held in its history (its PDF is available masked)."""
    hidden = hidden_fields(record, user)
    held = any(getattr(record, f, None) not in (None, "") for f in hidden) or any(
        e.field in hidden and e.entity_type == record.audit_entity_type
        and (e.old_value not in (None, "") or e.new_value not in (None, "")) for e in entries)
    if held:
        raise PermissionDenied(
            f"{record.number} holds protected health information you may not see: a certified "
            "copy is complete, so someone with access to it makes it. Its PDF shows it masked.")


def mask_trail(entries: list[Any], user: Any) -> list[Any]:
    """Audit entries of any records (the audit trail page, its CSV, the API) with the PHI
    values ``user`` may not see masked, judged record by record (where each record is)."""
    tagged_fields = {rt.model.__mapper__.local_table.name: set(rt.phi_fields)
                     for rt in current_app.extensions["cqms"].registry.record_types.values()
                     if rt.phi_fields}
    tagged = [e for e in entries if e.field in tagged_fields.get(e.entity_type, ())
              and (e.old_value not in (None, "") or e.new_value not in (None, ""))]
    if not tagged:
        return entries
    records = Record.by_ids({int(e.entity_id) for e in tagged if e.entity_id.isdigit()})
    hidden = {e.id for e in tagged if not (
        e.entity_id.isdigit() and int(e.entity_id) in records
        and may_see_phi(user, records[int(e.entity_id)]))}
    return [MaskedEntry(e) if e.id in hidden else e for e in entries]

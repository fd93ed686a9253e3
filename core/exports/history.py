"""A record's history read back from the audit trail: its entries, and every version rebuilt.

A record's create entries are its baseline (version 1, one entry per field); each later version
is the previous one plus the update entries stamped with that ``entity_version``. Entries of
the record's attachments, signatures and links belong to its history too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from core.attachments.models import Attachment
from core.audit.chain import CHAINED_FIELDS
from core.audit.listener import _class_for_table, format_value, unstated_at_create
from core.audit.models import AuditEntry
from core.audit.reconcile import LABELLED_ID
from core.db import db
from core.records.audit_scope import visible_entries
from core.records.content import content_fields, content_hash
from core.records.items import item_models
from core.records.models import Record, RecordLink
from core.signatures.models import Signature

# Not rebuilt per version: ``version`` is the version itself; ``updated_at`` is set by the
# database on update and never audited, and ``updated_by_id`` is each version's ``actor`` (no
# longer audited as a field), so an old value would be misleading.
NOT_VERSIONED = frozenset({"version", "updated_at", "updated_by_id"})
# Written by the core with every change; never counted as a change of content.
BOOKKEEPING = frozenset({"version", "content_hash", "updated_at", "updated_by_id"})


def record_tables(record: Record) -> list[str]:
    return [table.name for table in record.__mapper__.tables]


def record_entries(record: Record, user: Any = None) -> list[AuditEntry]:
    """Every audit entry of ``record`` and of its attachments, signatures, links and items, in order;
    with ``user``, those they may see (not the links to records they may not read)."""
    owned = (
        (Attachment.__tablename__, select(Attachment.id).where(Attachment.record_id == record.id)),
        (Signature.__tablename__, select(Signature.id).where(Signature.record_id == record.id)),
        (RecordLink.__tablename__, select(RecordLink.id).where(
            or_(RecordLink.source_id == record.id, RecordLink.target_id == record.id))),
    )
    owned += tuple((model.__tablename__, select(model.id).where(model.record_id == record.id))
                   for model in item_models(record))
    conditions = [and_(AuditEntry.entity_type.in_(record_tables(record)),
                       AuditEntry.entity_id == str(record.id))]
    for table, ids in owned:
        keys = [str(i) for i in db.session.scalars(ids)]
        if keys:
            conditions.append(and_(AuditEntry.entity_type == table, AuditEntry.entity_id.in_(keys)))
    stmt = select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.id)
    if user is not None:
        stmt = stmt.where(visible_entries(user))
    return list(db.session.scalars(stmt))


def target_of(record: Record, key: str) -> Any:
    """The object a foreign-key column of ``record`` points to (None if not a foreign key)."""
    value = getattr(record, key)
    column = record.__mapper__.get_property(key).columns[0]
    if value is None or not column.foreign_keys:
        return None
    target = _class_for_table(next(iter(column.foreign_keys)).column.table.name)
    return db.session.get(target, value) if target is not None else None


def audit_text(record: Record, key: str) -> str | None:
    """A column's current value as the audit trail writes it (foreign keys ``label (#id)``)."""
    value = getattr(record, key)
    target = target_of(record, key)
    if target is None or not hasattr(target, "audit_label"):
        return format_value(value)
    return f"{target.audit_label()} (#{format_value(value)})"


def utc_iso(value: datetime) -> str:
    """The chain's canonical time text (ISO 8601, microseconds, ``Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as chained (its keyed hash is computed over this dict), plus its
    links in the chain and the chain it is on."""
    data = {name: getattr(entry, name) for name in CHAINED_FIELDS}
    data["at"] = utc_iso(entry.at)
    data["prev_hash"] = entry.prev_hash
    data["hash"] = entry.hash
    data["chain"] = entry.chain
    return data


@dataclass
class Version:
    number: int
    at: str = ""
    actor: str = ""
    reason: str = ""
    changed: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"version": self.number, "at": self.at, "actor": self.actor,
                "reason": self.reason, "changed_fields": self.changed, "events": self.events,
                "content_hash": self.values.get("content_hash"), "values": self.values}


def _own(record: Record, entries: list[AuditEntry]) -> list[AuditEntry]:
    tables = set(record_tables(record))
    return [e for e in entries if e.entity_type in tables and e.entity_id == str(record.id)]


def reconstruct_versions(record: Record, entries: list[AuditEntry]) -> list[Version]:
    """Versions 1..current of ``record`` with their field values as audited (text)."""
    own = _own(record, entries)
    last = max([record.version or 1, *(e.entity_version or 1 for e in own)])
    versions = {n: Version(n) for n in range(1, last + 1)}
    # What the creation leaves unstated: the record's id (each entry's entity id), empty texts.
    mapper = record.__mapper__
    versions[1].values = {**{c.key: audit_text(record, c.key) for c in mapper.primary_key},
                          **unstated_at_create(mapper)}
    for entry in own:
        version = versions.get(entry.entity_version or 0)
        if version is None:
            continue
        if entry.action == "transition":  # the state of this version
            version.values["state"] = entry.new_value
        if entry.action in ("create", "update"):
            if not version.at:
                version.at, version.actor = utc_iso(entry.at), entry.actor_name
            if entry.reason and not version.reason:
                version.reason = entry.reason
            if entry.field not in NOT_VERSIONED:
                version.values[entry.field] = entry.new_value
            if entry.action == "update" and entry.field not in BOOKKEEPING:
                version.changed.append(entry.field)
        else:
            version.events.append(f"{entry.action} {entry.field}".strip())
    values: dict[str, str | None] = {}
    for number in range(1, last + 1):
        own_hash = versions[number].values.get("content_hash")
        values = {**values, **versions[number].values}
        # Since the lean trail, updates carry no content_hash row: it is the hash of the
        # version's content as audited (older trails have their own row per version).
        values["content_hash"] = own_hash or audited_content_hash(record, values)
        versions[number].values = values
    return [versions[n] for n in range(1, last + 1)]


def audited_content_hash(record: Record, values: dict[str, str | None]) -> str:
    """The content hash of a version rebuilt from the trail's text values."""
    mapper = record.__mapper__
    content = {}
    for name in content_fields(record):
        content[name] = _native(mapper.get_property(name).columns[0], values.get(name))
    return content_hash(content)


def _native(column: Any, text: str | None) -> Any:
    """A trail text back to the value ``content_of`` hashes (ids, numbers, flags)."""
    if text is None:
        return None
    if column.foreign_keys:
        match = LABELLED_ID.search(text)
        return int(match.group(1) if match else text)
    python_type = _python_type(column)
    if python_type is bool:
        return text == "true"
    if python_type is int:
        return int(text)
    return text


def _python_type(column: Any) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return str


def change_counts(record: Record, entries: list[AuditEntry]) -> Counter[str]:
    """How many times each field changed after its original entry (A11-08)."""
    return Counter(e.field for e in _own(record, entries)
                   if e.action == "update" and e.field not in BOOKKEEPING)

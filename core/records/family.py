"""Child records kept in their parent's study and site: a record type naming ``scope_parent``
(a document version's ``document_id``) shares its parent's scope. New children take it, a moved
parent takes its children along (``update_record``), and the core's flush guard refuses any
other change that would separate them, on every path."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import db
from core.errors import ValidationError
from core.records.models import Record
from core.specs import RecordType


def _types() -> dict[str, RecordType]:
    return current_app.extensions["cqms"].registry.record_types


def parent_id(record: Record) -> int | None:
    rt = _types().get(record.type)
    return getattr(record, rt.scope_parent) if rt is not None and rt.scope_parent else None


def parent_scope(rt: RecordType, values: dict[str, Any]) -> dict[str, Any]:
    """A new child's study/site: its parent's when none is given, else they must be equal."""
    if not rt.scope_parent or values.get(rt.scope_parent) is None:
        return values
    parent = db.session.get(Record, values[rt.scope_parent])
    if parent is None:
        return values  # the foreign key (or the plugin's guard) names the missing parent
    if values.get("study_id") is None and values.get("site_id") is None:
        return {**values, "study_id": parent.study_id, "site_id": parent.site_id}
    if (values.get("study_id"), values.get("site_id")) != (parent.study_id, parent.site_id):
        raise ValidationError({"site_id": f"A {rt.label} belongs to the study and site of "
                                          f"{parent.number}."})
    return values


def children_of(record: Record) -> list[Record]:
    """Records whose type declares ``scope_parent`` and whose parent is ``record``."""
    found: list[Record] = []
    for rt in _types().values():
        if rt.scope_parent:
            column = getattr(rt.model, rt.scope_parent)
            found += db.session.scalars(select(rt.model).where(column == record.id)
                                        .order_by(Record.id))
    return found


def check_family(session: Session, record: Record, moved: bool) -> None:
    """Flush guard: a child is where its parent is, and a record that ``moved`` left no child
    behind (422 naming ``site_id``)."""
    with session.no_autoflush:
        parent = parent_id(record)
        if parent is not None:
            owner = session.get(Record, parent)
            if owner is not None and (owner.study_id, owner.site_id) != (record.study_id,
                                                                         record.site_id):
                raise ValidationError({"site_id": f"{record.number} belongs to the study and "
                                                  f"site of {owner.number}."})
        if moved:
            for child in children_of(record):
                if (child.study_id, child.site_id) != (record.study_id, record.site_id):
                    raise ValidationError({"site_id": f"{child.number} belongs to the study "
                                                      f"and site of {record.number}."})

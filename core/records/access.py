"""Which records a user may read, as SQL: ``may_read``'s rule for whole lists.

What hangs off a record (its audit entries, signatures, links, tasks, notifications) is visible
only to those who may read the record; every path filters with these conditions in the query
itself, so keyset pages stay exact and full.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import CompoundSelect, Select, false, or_, select, true, union_all
from sqlalchemy.sql.elements import False_, True_

from core.db import db
from core.permissions import scope_clause
from core.records.models import Record, RecordLink
from core.records.service import read_clause, type_enabled
from core.specs import RecordType


def _conditions(user: Any) -> list[tuple[RecordType, Any, Any]]:
    """(type, scope condition, read_filter condition or None) of each type ``user`` may read
    some records of (types of disabled plugins: none)."""
    found = []
    for rt in current_app.extensions["cqms"].registry.record_types.values():
        if rt.view_permission is None or not type_enabled(rt.key):
            continue
        scope = scope_clause(user, rt.view_permission, Record.study_id, Record.site_id)
        if not isinstance(scope, False_):
            found.append((rt, scope, read_clause(rt, user)))
    return found


def reads_all(user: Any) -> bool:
    """Whether ``user`` may read every record of every type (global grants, no read_filter, no
    plugin disabled): then no filter is needed at all."""
    types = current_app.extensions["cqms"].registry.record_types
    found = _conditions(user)
    return len(found) == len(types) and all(
        isinstance(scope, True_) and extra is None for _rt, scope, extra in found)


def readable_records(user: Any) -> Select[Any] | CompoundSelect:
    """The ids of the records ``user`` may read: the view permission of the record's type in
    its study/site, and the type's ``read_filter`` (one SELECT per readable type)."""
    parts = []
    for rt, scope, extra in _conditions(user):
        stmt = select(Record.id).select_from(rt.model).where(Record.type == rt.key, scope)
        parts.append(stmt if extra is None else stmt.where(extra))
    if not parts:
        return select(Record.id).where(false())
    return parts[0] if len(parts) == 1 else union_all(*parts)


def readable(user: Any, record_id: Any) -> Any:
    """A condition: the record ``record_id`` (a column) is one ``user`` may read."""
    return true() if reads_all(user) else record_id.in_(readable_records(user))


def readable_or_none(user: Any, record_id: Any) -> Any:
    """A condition for rows that may concern a record: none, or one ``user`` may read."""
    return or_(record_id.is_(None), readable(user, record_id))


def readable_links(record: Record, user: Any) -> list[RecordLink]:
    """Live links of ``record`` in both directions whose other end ``user`` may read too."""
    stmt = select(RecordLink).where(RecordLink.ended_at.is_(None), or_(
        (RecordLink.source_id == record.id) & readable(user, RecordLink.target_id),
        (RecordLink.target_id == record.id) & readable(user, RecordLink.source_id),
    )).order_by(RecordLink.id)
    return list(db.session.scalars(stmt))

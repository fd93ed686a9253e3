"""Audit trail viewer: allow-listed filters, keyset pages, guarded CSV. Read-only for everyone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, request
from flask_admin import BaseView, expose
from sqlalchemy import select

from core.admin.base import csv_safe
from core.audit.models import AuditEntry
from core.db import db
from core.records.models import Record

PAGE_SIZE = 100
CSV_LIMIT = 100_000
TEXT_FILTERS = {
    "entity_type": AuditEntry.entity_type,
    "entity_id": AuditEntry.entity_id,
    "action": AuditEntry.action,
    "field": AuditEntry.field,
    "actor": AuditEntry.actor_name,
}
ALLOWED_PARAMS = {*TEXT_FILTERS, "record", "since", "until", "before", "format"}
COLUMNS = ("id", "at", "actor_name", "action", "entity_type", "entity_id", "field",
           "old_value", "new_value", "reason", "ip", "client", "request_id")


class FilterError(ValueError):
    """A filter the viewer cannot apply; shown above the form (400), never a stack trace."""


def _date(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise FilterError(f"{name}: use the date format YYYY-MM-DD") from None


def _record_entries(number: str) -> tuple[Any, ...]:
    """Conditions selecting the entries of the record numbered ``number`` (all its tables)."""
    record = db.session.scalar(select(Record).where(Record.number == number))
    if record is None:
        raise FilterError(f"record: no record is numbered {number!r}")
    tables = [t.name for t in record.__mapper__.tables]
    return AuditEntry.entity_type.in_(tables), AuditEntry.entity_id == str(record.id)


def filtered_query() -> Any:
    unknown = set(request.args) - ALLOWED_PARAMS
    if unknown:
        raise FilterError(f"Unknown filter: {', '.join(sorted(unknown))}")
    stmt = select(AuditEntry)
    for name, column in TEXT_FILTERS.items():
        value = request.args.get(name, "").strip()
        if value:
            stmt = stmt.where(column.contains(value) if name == "actor" else column == value)
    number = request.args.get("record", "").strip()
    if number:
        stmt = stmt.where(*_record_entries(number))
    since, until = _date("since"), _date("until")
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until + timedelta(days=1))
    return stmt.order_by(AuditEntry.id.desc())


class AuditView(BaseView):
    @expose("/")
    def index_view(self) -> Any:
        args = {k: v for k, v in request.args.items() if k not in ("before", "format") and v}
        try:
            stmt = filtered_query()
            before = request.args.get("before", "")
            if before and (not before.isdigit() or len(before) > 18):
                raise FilterError("before: expected an entry number")
        except FilterError as exc:
            return self.render("core/admin/audit.html", entries=[], args=args, next_before=None,
                               error=str(exc)), 400
        if request.args.get("format") == "csv":
            return self._csv(stmt)
        if before:
            stmt = stmt.where(AuditEntry.id < int(before))
        entries = list(db.session.scalars(stmt.limit(PAGE_SIZE + 1)))
        more = len(entries) > PAGE_SIZE
        entries = entries[:PAGE_SIZE]
        return self.render(
            "core/admin/audit.html",
            entries=entries,
            args=args,
            next_before=entries[-1].id if more else None,
        )

    def _csv(self, stmt: Any) -> Response:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([*COLUMNS[:2], "at_timezone", *COLUMNS[2:]])
        for entry in db.session.scalars(stmt.limit(CSV_LIMIT)):
            values = [getattr(entry, c) for c in COLUMNS]
            values[1] = entry.at.isoformat()
            writer.writerow([csv_safe(v) if v is not None else "" for v in values[:2]] + ["UTC"]
                            + [csv_safe(v) if v is not None else "" for v in values[2:]])
        return Response(
            buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=audit-trail.csv"},
        )

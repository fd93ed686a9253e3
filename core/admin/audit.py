"""Audit trail viewer: allow-listed filters, keyset pages, guarded CSV. Read-only for everyone;
each user sees the entries ``core.records.audit_scope`` allows them (pages and CSV alike)."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from flask import Response, request
from flask_admin import BaseView, expose
from flask_login import current_user

from core.admin.base import csv_safe
from core.audit.models import AuditEntry
from core.db import db
from core.exports.audit import audit_export
from core.records.audit_query import FilterError, audit_query

PAGE_SIZE = 100
CSV_LIMIT = 100_000
COLUMNS = ("id", "at", "actor_name", "action", "entity_type", "entity_id", "field",
           "old_value", "new_value", "reason", "ip", "client", "request_id")
PAGING = ("before",)


class AuditView(BaseView):
    def _filtered(self) -> tuple[Any, dict[str, str], str | None]:
        """The filtered query from the URL, the filters to keep in links, and an error."""
        args = {k: v for k, v in request.args.items() if k not in PAGING and v}
        try:
            stmt = audit_query({k: v for k, v in request.args.items() if k not in PAGING},
                               current_user._get_current_object())
            before = request.args.get("before", "")
            if before and (not before.isdigit() or len(before) > 18):
                raise FilterError("before: expected an entry number")
        except FilterError as exc:
            return None, args, str(exc)
        return stmt, args, None

    @expose("/")
    def index_view(self) -> Any:
        stmt, args, error = self._filtered()
        if error:
            return self.render("core/admin/audit.html", entries=[], args=args, next_before=None,
                               error=error), 400
        before = request.args.get("before", "")
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

    @expose("/export.csv", methods=["POST"])
    def export_csv_view(self) -> Any:
        """The filtered trail as CSV: a POST with a CSRF token, as it writes an export entry."""
        stmt, args, error = self._filtered()
        if error:
            return self.render("core/admin/audit.html", entries=[], args=args, next_before=None,
                               error=error), 400
        return self._csv(stmt)

    def _csv(self, stmt: Any) -> Response:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([*COLUMNS[:2], "at_timezone", *COLUMNS[2:]])
        rows = 0
        for entry in db.session.scalars(stmt.limit(CSV_LIMIT)):
            rows += 1
            values = [getattr(entry, c) for c in COLUMNS]
            values[1] = entry.at.isoformat()
            writer.writerow([csv_safe(v) if v is not None else "" for v in values[:2]] + ["UTC"]
                            + [csv_safe(v) if v is not None else "" for v in values[2:]])
        data = buffer.getvalue()
        audit_export("csv", AuditEntry.__tablename__, detail=(
            f"Audit trail: {rows} rows; filters: "
            f"{request.query_string.decode('utf-8', 'replace')[:500]}; "
            f"sha256 {hashlib.sha256(data.encode()).hexdigest()}"))
        return Response(
            data,
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=audit-trail.csv"},
        )

"""Audit trail viewer: allow-listed filters, keyset pages, guarded CSV. Read-only for everyone;
each user sees the entries ``core.records.audit_scope`` allows them (pages and CSV alike)."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from core.admin.base import SecureForm, csv_safe
from core.audit.models import AuditEntry
from core.db import db
from core.exports.audit import audit_export
from core.exports.trail_check import PERMISSION as AUDIT_CHECK
from core.exports.trail_check import TRAIL_CHECK
from core.jobs.service import start_job
from core.permissions import has_permission
from core.phi import mask_trail
from core.records.audit_query import FilterError, audit_query
from core.records.models import Record

PAGE_SIZE = 100
CSV_LIMIT = 100_000
COLUMNS = ("id", "at", "actor_name", "action", "entity_type", "entity_id", "field",
           "old_value", "new_value", "reason", "ip", "client", "request_id")
PAGING = ("before",)


def subjects_of(entries: list[AuditEntry]) -> dict[tuple[str, str], str]:
    """What each entry is about, as people name it: a record by number and title (one query
    for the page); other entities keep their type and id."""
    ids = {int(e.entity_id) for e in entries if e.entity_id and e.entity_id.isdigit()}
    if not ids:
        return {}
    tables = {m.local_table.name for m in Record.__mapper__.self_and_descendants}
    names = {str(row.id): f"{row.number} {row.title}" for row in db.session.execute(
        select(Record.id, Record.number, Record.title).where(Record.id.in_(ids)))}
    return {(e.entity_type, e.entity_id): names[e.entity_id] for e in entries
            if e.entity_type in tables and e.entity_id in names}


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

    def render(self, template: str, **kwargs: Any) -> Any:
        kinds = current_app.extensions["cqms"].registry.audit_event_kinds
        kwargs.setdefault("entries", [])
        kwargs.update(
            events=sorted(((key, kind.label) for key, kind in kinds.items()),
                          key=lambda item: item[1]),
            subjects=subjects_of(kwargs["entries"]),
            may_check=has_permission(current_user, AUDIT_CHECK),
        )
        return super().render(template, **kwargs)

    @expose("/check", methods=["POST"])
    def check_view(self) -> Any:
        """Check the whole trail as a job (audited); the user follows it under My exports."""
        if not has_permission(current_user, AUDIT_CHECK):
            abort(403)
        if not SecureForm().validate_on_submit():
            flash("The form expired; try again.", "error")
            return redirect(url_for(".index_view"))
        job = start_job(TRAIL_CHECK.key, current_user._get_current_object(), {},
                        "Audit trail check")
        db.session.commit()
        flash("The audit trail is being checked. The report stays under My exports.", "info")
        return redirect(url_for("core_jobs.details", job_id=job.id))

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
        entries = mask_trail(entries[:PAGE_SIZE], current_user._get_current_object())
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
        for entry in mask_trail(list(db.session.scalars(stmt.limit(CSV_LIMIT))),
                                current_user._get_current_object()):
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

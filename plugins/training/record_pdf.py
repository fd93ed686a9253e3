"""The individual training record as an inspection-ready PDF (ICH E6 4.2, 21 CFR 11.50): the
person and their roles, every completion (requirement, version, when, how, score, expiry,
evidence) with its signature manifestations, and the open assignments.

WeasyPrint renders it with a fetcher allowed ``data:`` URIs only; the template escapes values.
Every copy served is an ``export`` entry (field ``training_record_pdf``) of the person.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from flask import Response, render_template
from pypdf import PdfReader
from sqlalchemy import select

from core import (
    Record,
    User,
    audit_export,
    content_disposition,
    db,
    has_permission,
    render_html,
    scope_clause,
    signatures_of,
    utcnow,
)
from plugins.training.matrix import MATRIX, Filters, build_matrix
from plugins.training.models import TRAINER_RECORDED, TrainingAssignment

DONE_STATES = ("completed", "waived", "superseded")


def utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def render_pdf(template: str, **context: Any) -> bytes:
    return render_html(render_template(template, utc=utc, **context)).write_pdf()


def pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(filename, "attachment")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def visible_person(user_id: int, viewer: Any) -> User | None:
    """The person whose record ``viewer`` may print: themselves, or someone holding a role in
    the viewer's training-matrix scope."""
    person = User.by_id(user_id)
    if person is None or person.is_service:
        return None
    if person.id == viewer.id:
        return person
    if not has_permission(viewer, MATRIX):
        return None
    rows = build_matrix(viewer, Filters(username=person.username), limit=1).rows
    return person if rows else None


def _method(assignment: TrainingAssignment) -> str:
    kind = assignment.requirement.kind.replace("_", "-")
    if assignment.state == "waived":
        return f"{kind}; waived"
    if assignment.carried_over_from_id is not None:
        return f"{kind}; carried over"
    if assignment.requirement.kind in TRAINER_RECORDED:
        return f"{kind}; recorded by trainer"
    return f"{kind}; read and understood (own signature)"


def record_context(person: User, viewer: Any) -> dict[str, Any]:
    stmt = select(TrainingAssignment).where(TrainingAssignment.trainee_id == person.id)
    if person.id != viewer.id:  # someone else's: only what the viewer's scope covers
        stmt = stmt.where(scope_clause(viewer, MATRIX, Record.study_id, Record.site_id))
    assignments = list(db.session.scalars(stmt.order_by(TrainingAssignment.id)))
    done = []
    for a in assignments:
        if a.state not in DONE_STATES or (a.state == "superseded" and a.completed_at is None):
            continue
        signatures = [(s, s.meaning_label) for s in signatures_of(a)]
        done.append({"assignment": a, "method": _method(a), "signatures": signatures})
    roles = [{"role": g.role.label or g.role.key, "key": g.role.key,
              "scope": (g.site.audit_label() if g.site else g.study.code if g.study else "all")}
             for g in person.active_assignments()]
    return {"person": person, "roles": roles, "done": done,
            "open": [a for a in assignments if a.state == "assigned"],
            "printed_by": viewer.printed_name, "printed_at": utc(utcnow())}


def record_pdf_response(person: User, viewer: Any) -> Response:
    """Render, audit (before sending: a copy that cannot be audited is not served), respond."""
    context = record_context(person, viewer)
    data = render_pdf("training/record_pdf.html", **context)
    pages = len(PdfReader(io.BytesIO(data)).pages)
    audit_export("training_record_pdf", "core_user", person.id, detail=(
        f"individual training record of {person.username}: {len(context['done'])} completed, "
        f"{len(context['open'])} open; {pages} pages, {len(data)} bytes, "
        f"sha256 {hashlib.sha256(data).hexdigest()}"))
    return pdf_response(data, f"training-record-{person.username}.pdf")

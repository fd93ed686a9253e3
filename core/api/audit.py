"""``/api/v1/records/.../audit`` and ``/api/v1/audit``: the audit trail of one record (for its
readers), and the whole trail filtered to the entries the caller may see
(``core.records.audit_scope``). Keyset pages by entry number."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from core.api import schemas
from core.api.checks import api_user, problem_responses
from core.api.pagination import decode_cursor, encode_cursor
from core.api.records import RECORD, _record
from core.audit.models import AuditEntry
from core.db import db
from core.permissions import checks_in_view, requires
from core.phi import mask_trail
from core.records.audit_query import FilterError, audit_query, record_conditions

blp = Blueprint("core_api_audit", __name__, url_prefix="/api/v1",
                description="The audit trail: of one record, and filtered across records")
AUDIT_VIEW = "core.audit.view"


def _page(items: list[AuditEntry], limit: int) -> dict[str, Any]:
    more = len(items) > limit
    items = mask_trail(items[:limit], api_user())
    return {"items": items, "next": encode_cursor(items[-1].id, items[-1].id) if more else None}


@blp.route(f"{RECORD}/audit")
@checks_in_view  # the record type's permission, the record's scope
@blp.arguments(schemas.ListQuery, location="query", error_status_code=400,
               unknown=RAISE)
@blp.response(200, schemas.AuditPage)
@problem_responses(blp, 400, 401, 403, 404)
def record_audit(query: dict[str, Any], type_key: str, record_id: int) -> Any:
    """The record's audit trail, oldest first."""
    _rt, record = _record(type_key, record_id)
    stmt = select(AuditEntry).where(*record_conditions(record))
    if query.get("after"):
        _value, seq = decode_cursor(query["after"], "int")
        stmt = stmt.where(AuditEntry.id > seq)
    rows = list(db.session.scalars(stmt.order_by(AuditEntry.id).limit(query["limit"] + 1)))
    return _page(rows, query["limit"])


@blp.route("/audit")
@requires(AUDIT_VIEW)
@blp.arguments(schemas.AuditQuery, location="query", error_status_code=400,
               unknown=RAISE)
@blp.response(200, schemas.AuditPage)
@problem_responses(blp, 400, 401, 403)
def audit(query: dict[str, Any]) -> Any:
    """The audit trail, newest first, filtered (needs core.audit.view): entries of records you
    may read; entries about no record (accounts, roles, settings) with core.audit.view held
    globally."""
    filters = {k: v for k, v in query.items() if k not in ("after", "limit")}
    try:
        stmt = audit_query(filters, api_user())
    except FilterError as exc:
        abort(400, description=str(exc))
    if query.get("after"):
        _value, seq = decode_cursor(query["after"], "int")
        stmt = stmt.where(AuditEntry.id < seq)
    rows = list(db.session.scalars(stmt.limit(query["limit"] + 1)))
    return _page(rows, query["limit"])

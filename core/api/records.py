"""``/api/v1/record-types`` and ``/api/v1/records/...``: every record action of the user
interface (their audit trail: ``core.api.audit``). Study/site scope applies to every list and
every object by id; records out of scope answer 404, as if they did not exist."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, jsonify, request, send_file, url_for
from flask_smorest import Blueprint
from marshmallow import RAISE, validate
from sqlalchemy import select

from core.api import schemas
from core.api.checks import api_user, authorize_first, problem_responses
from core.api.pagination import after_clause, decode_cursor, encode_cursor
from core.api.records_io import field_info, load_body, record_json
from core.attachments.models import Attachment
from core.attachments.service import add_attachment, attachments_of, open_attachment
from core.db import db
from core.due import overdue_clause
from core.errors import ValidationError
from core.exports.downloads import certified_copy_download, pdf_download
from core.permissions import checks_in_view, has_permission, login_only, may_act_in, scope_clause
from core.phi import note_phi_viewed
from core.records.access import readable_links
from core.records.links import impact, link_records, relation_label, unlink
from core.records.models import Record, RecordLink
from core.records.search import search_clause
from core.records.service import (
    create_record,
    may_read,
    read_clause,
    type_enabled,
    update_record,
)
from core.signatures.service import SignatureRequest, signatures_of
from core.specs import RecordType
from core.users.models import User
from core.web.files import content_disposition
from core.workflows.categories import category_clause
from core.workflows.service import may_attempt, perform_transition

blp = Blueprint("core_api_records", __name__, url_prefix="/api/v1",
                description="Records, their workflow, signatures, links and attachments")
MAX_ID = 2147483647
RECORD = f"/records/<string(maxlength=64):type_key>/<int(max={MAX_ID}):record_id>"
SORTS = {"number": "str", "title": "str", "state": "str", "created_at": "datetime",
         "updated_at": "datetime", "id": "int"}
UNIQUE_SORTS = frozenset({"number", "id"})  # no tie-breaker needed: the index alone serves


# -- lookups -------------------------------------------------------------------------------------


def _type(type_key: str) -> RecordType:
    state = current_app.extensions["cqms"]
    rt = state.registry.record_types.get(type_key)
    if rt is None or rt.view_permission is None or not type_enabled(type_key):
        abort(404, description=f"No record type {type_key!r}.")
    if not has_permission(api_user(), rt.view_permission):
        abort(403, description=f"{rt.view_permission} is required to read {rt.label} records.")
    return rt


def _may_see(record: Record) -> bool:
    return may_read(record, api_user())


def _record(type_key: str, record_id: int) -> tuple[RecordType, Record]:
    rt = _type(type_key)
    record = db.session.get(rt.model, record_id)
    if record is None or not _may_see(record):
        abort(404, description=f"No {rt.label} with id {record_id}.")
    return rt, record


def _require_manage(rt: RecordType, study: Any = None, site: Any = None) -> None:
    permission = rt.manage_permission or rt.view_permission or ""
    if not may_act_in(api_user(), permission, study=study, site=site):
        abort(403, description=f"{permission} is required here (in this study/site).")


def _may_create(type_key: str) -> None:
    """Before the body is read: the manage permission somewhere (its scope is checked after)."""
    rt = _type(type_key)
    permission = rt.manage_permission or rt.view_permission or ""
    if not has_permission(api_user(), permission):
        abort(403, description=f"{permission} is required to create {rt.label} records.")


def _may_change(type_key: str, record_id: int, **_: Any) -> None:
    """Before the body is read: the manage permission in the record's scope."""
    rt, record = _record(type_key, record_id)
    _require_manage(rt, record.study, record.site)


def _may_transition(type_key: str, record_id: int, name: str) -> None:
    """Before the body is read: the transition's permission in the record's scope."""
    _rt, record = _record(type_key, record_id)
    if not may_attempt(record, name, api_user()):
        abort(403, description=f"You may not {name} {record.number}: that needs its "
                               "permission in the record's study/site.")


def _with_etag(body: dict[str, Any], status: int = 200, **headers: str) -> Any:
    """A record as JSON (already serialised: a schema would drop the type's own fields)."""
    response = jsonify(body)
    response.status_code = status
    response.headers.update({"ETag": f'"{body["version"]}"', **headers})
    return response


def _if_match() -> int:
    raw = request.headers.get("If-Match", "").strip()
    if not raw:
        abort(428, description="Send If-Match with the record's version (its ETag).")
    raw = raw.removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 9:
        abort(400, description="If-Match: expected the record's version number.")
    return int(raw)


def _page(items: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    more = len(items) > limit
    items = items[:limit]
    return items, (key(items[-1]) if more else None)


# -- record types --------------------------------------------------------------------------------


@blp.route("/record-types")
@login_only  # lists the types the caller may read
@blp.response(200, schemas.RecordType(many=True))
@problem_responses(blp, 401)
def record_types() -> Any:
    """Enabled record types you may read: fields, states and transitions."""
    state = current_app.extensions["cqms"]
    out = []
    for rt in state.registry.record_types.values():
        if (rt.view_permission is None or not type_enabled(rt.key)
                or not has_permission(api_user(), rt.view_permission)):
            continue
        workflow = state.registry.workflows[rt.workflow]
        out.append({
            "key": rt.key, "label": rt.label, "number_prefix": rt.number_prefix,
            "states": list(workflow.states), "initial_state": workflow.initial,
            "draft_states": [workflow.initial, *workflow.draft_states],
            "categories": dict(workflow.categories),
            "reason_in_draft": rt.reason_in_draft, "fields_": field_info(rt),
            "transitions": [{"name": t.name, "label": t.label or t.name, "source": list(t.source),
                             "target": t.target, "permission": t.permission,
                             "signature": t.signature, "reason_required": t.reason_required}
                            for t in workflow.transitions],
        })
    return out


# -- records -------------------------------------------------------------------------------------


@blp.route("/records/<string(maxlength=64):type_key>", methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.arguments(schemas.RecordListQuery, location="query", error_status_code=400,
               unknown=RAISE)
@blp.response(200, schemas.RecordPage)
@problem_responses(blp, 400, 401, 403, 404)
def list_records(query: dict[str, Any], type_key: str) -> Any:
    """Records of a type in your scope; keyset pages (``next`` -> ``after``)."""
    rt = _type(type_key)
    user = api_user()
    sort = query.get("sort") or "number"
    descending = sort.startswith("-")
    name = sort.removeprefix("-")
    if name not in SORTS:
        abort(400, description=f"sort: one of {', '.join(SORTS)} (prefix - for descending)")
    column = getattr(Record, name)
    stmt = select(rt.model).where(
        Record.type == rt.key,
        scope_clause(user, rt.view_permission, Record.study_id, Record.site_id))
    extra = read_clause(rt, user)
    if extra is not None:
        stmt = stmt.where(extra)
    if query.get("state"):
        stmt = stmt.where(Record.state == query["state"])
    if query.get("category"):
        stmt = stmt.where(category_clause(rt.key, query["category"]))
    if "overdue" in query:
        if rt.due_field is None:
            raise ValidationError({"overdue": f"A {rt.label} has no due date."})
        clause = overdue_clause(rt)
        stmt = stmt.where(clause if query["overdue"] else ~clause)
    if query.get("study"):
        stmt = stmt.where(Record.study_id == query["study"])
    if query.get("site"):
        stmt = stmt.where(Record.site_id == query["site"])
    if query.get("owner"):
        stmt = stmt.where(Record.owner_id == select(User.id).where(
            User.username == query["owner"]).scalar_subquery())
    if query.get("q"):
        stmt = stmt.where(search_clause(query["q"], db.session.get_bind().dialect.name))
    if query.get("after"):
        value, row_id = decode_cursor(query["after"], SORTS[name])
        stmt = stmt.where(after_clause(column, Record.id, value, row_id, descending,
                                       unique=name in UNIQUE_SORTS))
    if name in UNIQUE_SORTS:
        order: tuple[Any, ...] = (column.desc(),) if descending else (column,)
    else:
        order = (column.desc(), Record.id.desc()) if descending else (column, Record.id)
    limit = query["limit"]
    rows = list(db.session.scalars(stmt.order_by(*order).limit(limit + 1)))
    rows, cursor = _page(rows, limit, lambda r: encode_cursor(getattr(r, name), r.id))
    return jsonify({"items": [record_json(r, user) for r in rows], "next": cursor})


@blp.route("/records/<string(maxlength=64):type_key>", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_create)
@blp.doc(requestBody={"required": True, "content": {"application/json": {
    "schema": schemas.RecordWrite}}})
@blp.response(201, schemas.Record)
@problem_responses(blp, 401, 403, 404, 422)
def create(type_key: str) -> Any:
    """Create a record in the workflow's initial state (number assigned by the server)."""
    rt = _type(type_key)
    values, reason = load_body(rt, request.get_json(silent=True), creating=True)
    # create_record checks the scope the record gets (a child takes its parent's): 403.
    record = create_record(rt.key, api_user(), reason=reason, **values)
    db.session.commit()
    body = record_json(record, api_user())
    return _with_etag(body, 201, Location=url_for(".get_record", type_key=rt.key,
                                                  record_id=record.id))


@blp.route(RECORD, methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, schemas.Record)
@problem_responses(blp, 401, 403, 404)
def get_record(type_key: str, record_id: int) -> Any:
    """One record; its ETag is its version (send it back as If-Match to change it)."""
    _rt, record = _record(type_key, record_id)
    body = record_json(record, api_user())
    note_phi_viewed(record, api_user(), "API")
    return _with_etag(body)


@blp.route(RECORD, methods=["PATCH"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_change)
@blp.doc(requestBody={"required": True, "content": {"application/json": {
    "schema": schemas.RecordWrite}}}, parameters=[{
        "in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
        "description": "The version you edited (the record's ETag)"}])
@blp.response(200, schemas.Record)
@problem_responses(blp, 400, 401, 403, 404, 409, 422, 428)
def patch_record(type_key: str, record_id: int) -> Any:
    """Change fields. Needs If-Match (428 without, 409 when stale); a reason past draft."""
    rt, record = _record(type_key, record_id)
    expected = _if_match()
    _require_manage(rt, record.study, record.site)
    values, reason = load_body(rt, request.get_json(silent=True), creating=False)
    if "study_id" in values or "site_id" in values:
        _require_manage(rt, values.get("study_id", record.study_id),
                        values.get("site_id", record.site_id))
    changes = {k: v for k, v in values.items() if getattr(record, k) != v}
    update_record(record, api_user(), expected_version=expected, reason=reason, **changes)
    db.session.commit()
    return _with_etag(record_json(record, api_user()))


@blp.route(f"{RECORD}/transitions/<string(maxlength=64):name>", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_transition)
@blp.arguments(schemas.TransitionRequest)
@blp.response(200, schemas.Record)
@problem_responses(blp, 400, 401, 403, 404, 409, 422)
def do_transition(body: dict[str, Any], type_key: str, record_id: int, name: str) -> Any:
    """Move the record along a transition; a signature re-enters your password (401 when
    wrong; failures count towards lockout). If-Match is optional (409 when stale)."""
    _rt, record = _record(type_key, record_id)
    user = api_user()
    expected = _if_match() if request.headers.get("If-Match") else None
    signature, attest = None, False
    if body.get("signature"):
        given = body["signature"]
        signature = SignatureRequest(password=given["password"], meaning=given.get("meaning"),
                                     totp=given.get("totp"), comment=given.get("comment") or "",
                                     username=given.get("username"),
                                     on_behalf_of=given.get("on_behalf_of"))
        attest = bool(given.get("attest"))
    perform_transition(record, name, user, reason=body.get("reason") or "", signature=signature,
                       attest=attest, expected_version=expected)
    return _with_etag(record_json(record, user))


@blp.route("/records/by-number/<string(maxlength=64):number>")
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, schemas.Record)
@problem_responses(blp, 401, 404)
def by_number(number: str) -> Any:
    """The record with this human number, whatever its type."""
    record = db.session.scalar(select(Record).where(Record.number == number))
    if record is None or not _may_see(record):
        abort(404, description=f"No record numbered {number!r}.")
    body = record_json(record, api_user())
    note_phi_viewed(record, api_user(), "API")
    return _with_etag(body)


# -- what hangs off a record ---------------------------------------------------------------------


@blp.route(f"{RECORD}/signatures")
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, schemas.Signature(many=True))
@problem_responses(blp, 401, 403, 404)
def record_signatures(type_key: str, record_id: int) -> Any:
    """Signatures with their manifestation (printed name, meaning, UTC time), valid or not."""
    _rt, record = _record(type_key, record_id)
    return signatures_of(record)


def _link_json(link: Any, record: Record) -> dict[str, Any]:
    outgoing = link.source_id == record.id
    other = link.target if outgoing else link.source
    return {"id": link.id, "kind": link.kind, "relation": relation_label(link, record.id),
            "direction": "outgoing" if outgoing else "incoming", "record": other,
            "created_at": link.created_at, "ended_at": link.ended_at,
            "end_reason": link.end_reason}


@blp.route(f"{RECORD}/links", methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, schemas.Link(many=True))
@problem_responses(blp, 401, 403, 404)
def record_links(type_key: str, record_id: int) -> Any:
    """Links in both directions (to records you may see)."""
    _rt, record = _record(type_key, record_id)
    return [_link_json(link, record) for link in readable_links(record, api_user())]


@blp.route(f"{RECORD}/links", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_change)
@blp.arguments(schemas.LinkRequest)
@blp.response(201, schemas.Link)
@problem_responses(blp, 401, 403, 404, 409, 422)
def add_link(body: dict[str, Any], type_key: str, record_id: int) -> Any:
    """Link this record to another (by number) with a kind such as ``addresses``."""
    rt, record = _record(type_key, record_id)
    _require_manage(rt, record.study, record.site)
    target = db.session.scalar(select(Record).where(Record.number == body["target"]))
    if target is None or not _may_see(target):
        raise ValidationError({"target": f"No record numbered {body['target']!r} that you may "
                               "see."})
    link = link_records(record, target, body["kind"], api_user(), reason=body.get("reason") or "")
    db.session.commit()
    return _link_json(link, record)


@blp.route(f"{RECORD}/links/<int(max=2147483647):link_id>/end", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_change)
@blp.arguments(schemas.UnlinkRequest)
@blp.response(200, schemas.Link)
@problem_responses(blp, 401, 403, 404, 409, 422)
def end_link(body: dict[str, Any], type_key: str, record_id: int, link_id: int) -> Any:
    """End a link from this record, with the reason (the link is kept, never deleted)."""
    _rt, record = _record(type_key, record_id)
    link = db.session.get(RecordLink, link_id)
    if link is None or link.source_id != record.id:
        abort(404, description=f"{record.number} has no link {link_id}.")
    unlink(link, api_user(), reason=body["reason"])
    db.session.commit()
    return _link_json(link, record)


@blp.route(f"{RECORD}/impact", methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.arguments(schemas.ImpactQuery, location="query")
@blp.response(200, schemas.Impact)
@problem_responses(blp, 401, 403, 404, 422)
def record_impact(query: dict[str, Any], type_key: str, record_id: int) -> Any:
    """What a change to this record touches: records linked to it (both ways, live links) up to
    ``depth`` links away, nearest first, those you may see; ``hidden`` counts the others."""
    _rt, record = _record(type_key, record_id)
    found, hidden = impact(record, api_user(), depth=query["depth"])
    types = current_app.extensions["cqms"].registry.record_types
    return {"record": record, "depth": query["depth"], "hidden": hidden,
            "records": [{"record": item.record, "depth": item.depth, "via": item.via,
                         "type_label": types[item.record.type].label
                         if item.record.type in types else item.record.type}
                        for item in found]}


def _attachment_json(attachment: Attachment, rt: RecordType) -> Attachment:
    attachment.download = url_for(".attachment_content", type_key=rt.key,  # not a column
                                  record_id=attachment.record_id, attachment_id=attachment.id)
    return attachment


@blp.route(f"{RECORD}/attachments", methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, schemas.Attachment(many=True))
@problem_responses(blp, 401, 403, 404)
def record_attachments(type_key: str, record_id: int) -> Any:
    """Files of the record with their SHA-256, oldest first."""
    rt, record = _record(type_key, record_id)
    return [_attachment_json(a, rt) for a in attachments_of(record)]


@blp.route(f"{RECORD}/attachments", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_change)
@blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "reason": {"type": "string", "maxLength": 2000}}}}}})
@blp.response(201, schemas.Attachment)
@problem_responses(blp, 401, 403, 404, 409, 422)
def upload(type_key: str, record_id: int) -> Any:
    """Add a file (multipart field ``file``; ``reason`` past draft). A new version of the
    record: signatures on the previous one are invalidated."""
    rt, record = _record(type_key, record_id)
    _require_manage(rt, record.study, record.site)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        raise ValidationError({"file": "Send the file as multipart field 'file'."})
    reason = request.form.get("reason", "")
    if len(reason) > 2000 or "\x00" in reason:
        raise ValidationError({"reason": "A text of at most 2000 characters."})
    attachment = add_attachment(record, api_user(), upload_file.filename, upload_file.stream,
                                declared_type=upload_file.mimetype, reason=reason)
    db.session.commit()
    return _attachment_json(attachment, rt)


@blp.route(f"{RECORD}/attachments/<int(max={MAX_ID}):attachment_id>/content")
@checks_in_view  # the record type's permission, the record's scope
@blp.doc(responses={"200": {
    "description": "The file's bytes, re-verified against its SHA-256, served with the media "
                   "type it was stored with (the attachment's `media_type`, e.g. "
                   "application/pdf) as a download",
    "headers": {"Content-Disposition": {"description": "attachment; filename=...",
                                        "schema": {"type": "string"}}},
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
@problem_responses(blp, 401, 403, 404, 409)
def attachment_content(type_key: str, record_id: int, attachment_id: int) -> Any:
    """Download a file (refused with 409 if it no longer matches its SHA-256)."""
    _rt, record = _record(type_key, record_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.record_id != record.id:
        abort(404, description="No such attachment on this record.")
    fh = open_attachment(attachment)
    response = send_file(fh, mimetype=attachment.media_type, as_attachment=True,
                         download_name=attachment.filename, conditional=False, etag=False,
                         max_age=0)
    response.headers["Content-Disposition"] = content_disposition(attachment.filename)
    response.headers["Content-Length"] = str(attachment.size)
    return response


class ExportQuery(schemas.Schema):
    format = schemas.Text(required=True, validate=validate.OneOf(["pdf", "certified-copy"]),
                          metadata={"description": "pdf: the record rendered with signature "
                                    "manifestations and history; certified-copy: a zip of all "
                                    "versions, audit trail, signatures, files, the PDF and a "
                                    "signed SHA-256 manifest (check with `cqms verify-bundle`)"})


@blp.route(f"{RECORD}/export")
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_record)
@blp.arguments(ExportQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.doc(responses={"200": {"description": "The file (the download is audited)", "content": {
    "application/pdf": {}, "application/zip": {}}}})
@problem_responses(blp, 400, 401, 403, 404, 409, 503)
def export(query: dict[str, Any], type_key: str, record_id: int) -> Any:
    """A PDF or a certified copy of the record (P11-02); refused (409) when any of its data
    fails an integrity check."""
    _rt, record = _record(type_key, record_id)
    download = pdf_download if query["format"] == "pdf" else certified_copy_download
    return download(record, api_user())

"""``/api/v1/records/<type>/<id>/verifications``: second-person verification of a record's
critical data (A11-05): where each critical field stands, and verifying one (If-Match: the
version you checked)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from core.api.checks import api_user, authorize_first, problem_responses
from core.api.records import RECORD, _if_match, _may_change, _record
from core.api.schemas import Text
from core.permissions import checks_in_view
from core.second_person.service import FieldCheck, critical_field_checks, perform_verification

blp = Blueprint("core_api_verifications", __name__, url_prefix="/api/v1",
                description="Second-person verification of critical data")


class FieldCheckOut(Schema):
    field = fields.String()
    label = fields.String()
    needs_verification = fields.Boolean()
    changed_by = fields.String()
    changed_at = fields.DateTime(allow_none=True)
    changed_version = fields.Integer(allow_none=True)
    verified_by = fields.String()
    verified_at = fields.DateTime(allow_none=True)
    verified_version = fields.Integer(allow_none=True)


class VerificationRequest(Schema):
    field = Text(required=True, validate=validate.Length(min=1, max=64))


def _shown(check: FieldCheck) -> dict[str, Any]:
    return {name: getattr(check, name) for name in FieldCheckOut._declared_fields}


@blp.route(f"{RECORD}/verifications", methods=["GET"])
@checks_in_view  # the record type's permission, the record's scope
@blp.response(200, FieldCheckOut(many=True))
@problem_responses(blp, 401, 403, 404)
def list_checks(type_key: str, record_id: int) -> Any:
    """Each critical field: who last entered or changed it and when, and who verified it."""
    _rt, record = _record(type_key, record_id)
    return [_shown(check) for check in critical_field_checks(record)]


@blp.route(f"{RECORD}/verifications", methods=["POST"])
@checks_in_view  # the record type's permission, the record's scope
@authorize_first(_may_change)  # the manage permission in the record's scope
@blp.arguments(VerificationRequest)
@blp.response(201, FieldCheckOut)
@problem_responses(blp, 400, 401, 403, 404, 409, 422, 428)
def verify(body: dict[str, Any], type_key: str, record_id: int) -> Any:
    """Verify a critical field as a second person (not the record's author, not who last
    changed the field). Send If-Match with the version you checked (409 when it changed)."""
    _rt, record = _record(type_key, record_id)
    expected = _if_match()
    return _shown(perform_verification(record, body["field"], api_user(),
                                       expected_version=expected))

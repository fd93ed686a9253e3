"""The record page's "Verify" buttons: a CSRF-protected POST per critical field, back to the
record page with what happened."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from core.db import db
from core.errors import CQMSError, ValidationError
from core.permissions import ADMIN_ACCESS, requires
from core.records.models import Record
from core.records.service import may_read
from core.second_person.service import may_verify, perform_verification
from core.specs import RecordAction

blueprint = Blueprint("core_second_person", __name__)


def verify_actions(record: Record, user: Any) -> list[RecordAction]:
    """A button per critical field ``user`` may verify on ``record`` now."""
    return [RecordAction(f"Verify \u201c{check.label}\u201d (second person)",
                         url_for("core_second_person.verify", record_id=record.id),
                         element_id=f"verify-{check.field}",
                         fields=(("field", check.field), ("expected_version", str(record.version))))
            for check in may_verify(record, user)]


@blueprint.post("/records/<int(max=2147483647):record_id>/verify-field",
                provide_automatic_options=False)
@requires(ADMIN_ACCESS)  # the record page's button; the record's read right here, the
# type's manage right in its scope in the service
def verify(record_id: int) -> Any:
    user = current_user._get_current_object()
    record = db.session.get(Record, record_id)
    if record is None or not may_read(record, user):
        abort(404)
    back = url_for(f"{record.type}.details_view", id=record.id)
    name = (request.form.get("field") or "").strip()
    raw = (request.form.get("expected_version") or "").strip()
    if not raw.isdigit() or len(raw) > 9:
        flash("The form was incomplete: reload the record and try again.", "error")
        return redirect(back)
    try:
        check = perform_verification(record, name, user, expected_version=int(raw))
    except CQMSError as exc:
        said = " ".join(exc.errors.values()) if isinstance(exc, ValidationError) else str(exc)
        flash(f"Not verified: {said}", "error")
        return redirect(back)
    flash(f"{record.number}: you verified \u201c{check.label}\u201d. The verification is "
          "recorded in its history.", "info")
    return redirect(back)

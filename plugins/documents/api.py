"""The documents plugin's JSON API (``/api/v1/documents``): the point-of-use PDF."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from core import current_user, has_permission

blp = Blueprint("documents_api", __name__, url_prefix="/api/v1/documents",
                description="Document control: point-of-use PDFs of document versions")


class PdfQuery(Schema):
    copy = fields.String(load_default="uncontrolled",
                         validate=validate.OneOf(["controlled", "uncontrolled"]),
                         metadata={"description": "controlled: viewed in the system; "
                                                  "uncontrolled (default): printed or downloaded"})


@blp.route("/versions/<int(max=2147483647):version_id>/pdf")
@blp.arguments(PdfQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.doc(responses={"200": {"description": "The PDF (audited): a cover with the signature "
                                           "manifestations, then the version's PDF pages "
                                           "stamped with header and watermark",
                            "content": {"application/pdf": {}}}})
def version_pdf(query: dict[str, Any], version_id: int) -> Any:
    """The point-of-use PDF of a document version (needs read access to it; superseded and
    obsolete versions need documents.view_history)."""
    from plugins.documents.exports import find_version, may_print, version_pdf_response

    user = current_user._get_current_object()
    if not has_permission(user, "documents.view"):
        abort(403, description="documents.view is required.")
    version = find_version(version_id)
    if version is None or not may_print(version, user):
        abort(404, description=f"No document version with id {version_id}.")
    return version_pdf_response(version, user, query["copy"])

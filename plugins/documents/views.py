"""The documents blueprint: the plugin's templates (``templates/documents/``) and the record
page's point-of-use PDF (a POST with a CSRF token, like the core's exports)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request, url_for

from core import RecordAction, current_user, requires

blueprint = Blueprint("documents", __name__, template_folder="templates",
                      url_prefix="/documents")


# No automatic OPTIONS answer: like every refused request it would carry the HTML error page.
@blueprint.route("/versions/<int(max=2147483647):version_id>/pdf", methods=["POST"],
                 provide_automatic_options=False)
@requires("documents.view")
def version_pdf(version_id: int) -> Any:
    """The version's PDF: ``copy=controlled`` (viewed in the system, inline) or
    ``uncontrolled`` (printed/downloaded). Out of scope: 404; audited."""
    from plugins.documents.exports import find_version, may_print, version_pdf_response

    copy = request.form.get("copy", "uncontrolled")
    if copy not in ("controlled", "uncontrolled"):
        abort(400)
    user = current_user._get_current_object()
    version = find_version(version_id)
    if version is None or not may_print(version, user):
        abort(404)
    return version_pdf_response(version, user, copy)


def page_actions(record: Any, user: Any) -> list[RecordAction]:
    if record.type != "documents_version":
        return []
    from plugins.documents.exports import may_print

    if not may_print(record, user):
        return []
    url = url_for("documents.version_pdf", version_id=record.id)
    return [RecordAction("View PDF (controlled copy)", url, "documents-pdf-controlled",
                         (("copy", "controlled"),)),
            RecordAction("Print PDF (uncontrolled)", url, "documents-pdf-uncontrolled",
                         (("copy", "uncontrolled"),))]

"""The documents plugin's JSON API (``/api/v1/documents``): the point-of-use PDF and the named
reviewers of a version."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from core import authorize_first, current_user, db, has_permission

blp = Blueprint("documents_api", __name__, url_prefix="/api/v1/documents",
                description="Document control: point-of-use PDFs and named reviewers of "
                            "document versions")


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


class VersionReviewerOut(Schema):
    username = fields.String()
    printed_name = fields.String()
    added_at = fields.AwareDateTime()
    reviewed = fields.Boolean(metadata={"description": "a valid review signature on the "
                                                       "version's current content"})


class VersionReviewerIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class VersionReviewerWithdrawal(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


def _readable_version(version_id: int) -> Any:
    from plugins.documents.exports import find_version, may_print

    user = current_user._get_current_object()
    if not has_permission(user, "documents.view"):
        abort(403, description="documents.view is required.")
    version = find_version(version_id)
    if version is None or not may_print(version, user):
        abort(404, description=f"No document version with id {version_id}.")
    return version


REVIEWERS = "/versions/<int(max=2147483647):version_id>/reviewers"


def _may_name_reviewers(version_id: int, **_: Any) -> None:
    """Before the body is read: documents.create where the version is."""
    from plugins.documents.services import _may_name_reviewers as check

    check(_readable_version(version_id), current_user._get_current_object())


@blp.route(REVIEWERS, methods=["GET"])
@blp.response(200, VersionReviewerOut(many=True))
def version_reviewers(version_id: int) -> Any:
    """The named reviewers of a version and whether each has reviewed it (none named: the
    version needs ``reviews_required`` reviews by any reviewer)."""
    from plugins.documents.services import review_status

    return review_status(_readable_version(version_id))


@blp.route(REVIEWERS, methods=["POST"])
@authorize_first(_may_name_reviewers)
@blp.arguments(VersionReviewerIn, unknown=RAISE)
@blp.response(201, VersionReviewerOut(many=True))
def name_version_reviewer(body: dict[str, Any], version_id: int) -> Any:
    """Name a reviewer (a user holding documents.review) of a draft version; audited. Needs
    documents.create. Returns the reviewers."""
    from plugins.documents.services import name_reviewer, review_status

    version = _readable_version(version_id)
    name_reviewer(version, current_user._get_current_object(), body["username"],
                  body["reason"])
    db.session.commit()
    return review_status(version)


@blp.route(f"{REVIEWERS}/<string(maxlength=64):username>/withdraw", methods=["POST"])
@authorize_first(_may_name_reviewers)
@blp.arguments(VersionReviewerWithdrawal, unknown=RAISE)
@blp.response(200, VersionReviewerOut(many=True))
def withdraw_version_reviewer(body: dict[str, Any], version_id: int, username: str) -> Any:
    """Withdraw a named reviewer of a draft version (audited; nothing is deleted)."""
    from plugins.documents.services import review_status, withdraw_reviewer

    version = _readable_version(version_id)
    withdraw_reviewer(version, current_user._get_current_object(), username, body["reason"])
    db.session.commit()
    return review_status(version)

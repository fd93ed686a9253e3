"""The documents plugin's JSON API (``/api/v1/documents``): the point-of-use PDF and the named
reviewers of a version."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from core import api_user, authorize_first, db, problem_responses, requires
from plugins.documents.exports import find_version, may_print, version_pdf_response
from plugins.documents.services import _may_name_reviewers as check
from plugins.documents.services import name_reviewer, review_status, withdraw_reviewer

blp = Blueprint("documents_api", __name__, url_prefix="/api/v1/documents",
                description="Document control: point-of-use PDFs and named reviewers of "
                            "document versions")
VIEW = "documents.view"


class PdfQuery(Schema):
    copy = fields.String(load_default="uncontrolled",
                         validate=validate.OneOf(["controlled", "uncontrolled"]),
                         metadata={"description": "controlled: viewed in the system; "
                                                  "uncontrolled (default): printed or downloaded"})


@blp.route("/versions/<int(max=2147483647):version_id>/pdf")
@requires(VIEW)
@blp.arguments(PdfQuery, location="query", error_status_code=400, unknown=RAISE)
@blp.doc(responses={"200": {"description": "The PDF (audited): a cover with the signature "
                                           "manifestations, then the version's PDF pages "
                                           "stamped with header and watermark",
                            "content": {"application/pdf": {}}}})
@problem_responses(blp, 400, 401, 403, 404)
def version_pdf(query: dict[str, Any], version_id: int) -> Any:
    """The point-of-use PDF of a document version (needs read access to it; superseded and
    obsolete versions need documents.view_history)."""
    return version_pdf_response(_readable_version(version_id), api_user(), query["copy"])


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
    version = find_version(version_id)
    if version is None or not may_print(version, api_user()):
        abort(404, description=f"No document version with id {version_id}.")
    return version


REVIEWERS = "/versions/<int(max=2147483647):version_id>/reviewers"


def _may_name_reviewers(version_id: int, **_: Any) -> None:
    """Before the body is read: documents.create where the version is."""
    check(_readable_version(version_id), api_user())


@blp.route(REVIEWERS, methods=["GET"])
@requires(VIEW)
@blp.response(200, VersionReviewerOut(many=True))
@problem_responses(blp, 401, 403, 404)
def version_reviewers(version_id: int) -> Any:
    """The named reviewers of a version and whether each has reviewed it (none named: the
    version needs ``reviews_required`` reviews by any reviewer)."""
    return review_status(_readable_version(version_id))


@blp.route(REVIEWERS, methods=["POST"])
@requires(VIEW)
@authorize_first(_may_name_reviewers)
@blp.arguments(VersionReviewerIn, unknown=RAISE)
@blp.response(201, VersionReviewerOut(many=True))
@problem_responses(blp, 401, 403, 404, 409, 422)
def name_version_reviewer(body: dict[str, Any], version_id: int) -> Any:
    """Name a reviewer (a user holding documents.review) of a draft version; audited. Needs
    documents.create. Returns the reviewers."""
    version = _readable_version(version_id)
    name_reviewer(version, api_user(), body["username"], body["reason"])
    db.session.commit()
    return review_status(version)


@blp.route(f"{REVIEWERS}/<string(maxlength=64):username>/withdraw", methods=["POST"])
@requires(VIEW)
@authorize_first(_may_name_reviewers)
@blp.arguments(VersionReviewerWithdrawal, unknown=RAISE)
@blp.response(200, VersionReviewerOut(many=True))
@problem_responses(blp, 401, 403, 404, 409, 422)
def withdraw_version_reviewer(body: dict[str, Any], version_id: int, username: str) -> Any:
    """Withdraw a named reviewer of a draft version (audited; nothing is deleted)."""
    version = _readable_version(version_id)
    withdraw_reviewer(version, api_user(), username, body["reason"])
    db.session.commit()
    return review_status(version)

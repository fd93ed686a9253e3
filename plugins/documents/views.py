"""The documents blueprint: the plugin's templates (``templates/documents/``), the record
page's point-of-use PDF (a POST with a CSRF token, like the core's exports) and the page of a
version's named reviewers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from core import CQMSError, RecordAction, current_user, db, may_act_in, requires
from plugins.documents.exports import find_version, may_print, version_pdf_response
from plugins.documents.services import name_reviewer, review_status, withdraw_reviewer

blueprint = Blueprint("documents", __name__, template_folder="templates",
                      url_prefix="/documents")


# No automatic OPTIONS answer: like every refused request it would carry the HTML error page.
@blueprint.route("/versions/<int(max=2147483647):version_id>/pdf", methods=["POST"],
                 provide_automatic_options=False)
@requires("documents.view")
def version_pdf(version_id: int) -> Any:
    """The version's PDF: ``copy=controlled`` (viewed in the system, inline) or
    ``uncontrolled`` (printed/downloaded). Out of scope: 404; audited."""
    copy = request.form.get("copy", "uncontrolled")
    if copy not in ("controlled", "uncontrolled"):
        abort(400)
    user = current_user._get_current_object()
    version = find_version(version_id)
    if version is None or not may_print(version, user):
        abort(404)
    return version_pdf_response(version, user, copy)


def _readable(version_id: int) -> Any:
    version = find_version(version_id)
    if version is None or not may_print(version, current_user._get_current_object()):
        abort(404)
    return version


REVIEWERS = "/versions/<int(max=2147483647):version_id>/reviewers"


@blueprint.route(REVIEWERS, methods=["GET"], provide_automatic_options=False)
@requires("documents.view")
def reviewers_page(version_id: int) -> Any:
    """The version's named reviewers, each with their review status; name or withdraw them
    while the version is a draft."""
    version = _readable(version_id)
    user = current_user._get_current_object()
    may_name = version.state == "draft" and may_act_in(
        user, "documents.create", study=version.study, site=version.site)
    return render_template("documents/reviewers.html", version=version,
                           reviewers=review_status(version), may_name=may_name,
                           back=url_for("documents_version.details_view", id=version.id))


# The record page's buttons are CSRF-protected POSTs: this one only leads to the page above.
@blueprint.route(f"{REVIEWERS}/open", methods=["POST"], provide_automatic_options=False)
@requires("documents.view")
def open_reviewers_page(version_id: int) -> Any:
    _readable(version_id)
    return redirect(url_for(".reviewers_page", version_id=version_id), 303)


@blueprint.route(REVIEWERS, methods=["POST"], provide_automatic_options=False)
@requires("documents.create")
def change_reviewers(version_id: int) -> Any:
    """Name (``username``) or withdraw (``withdraw``) a reviewer; errors are shown on the page."""
    version = _readable(version_id)
    user = current_user._get_current_object()
    reason = (request.form.get("reason") or "")[:2000]
    withdraw = (request.form.get("withdraw") or "")[:64]
    username = (request.form.get("username") or "")[:64]
    try:
        if withdraw:
            withdraw_reviewer(version, user, withdraw, reason)
        else:
            name_reviewer(version, user, username, reason)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"Check the form: {exc}", "error")
    else:
        flash(f"{withdraw} withdrawn." if withdraw else f"{username} named reviewer.", "info")
    return redirect(url_for(".reviewers_page", version_id=version_id))


def page_actions(record: Any, user: Any) -> list[RecordAction]:
    if record.type != "documents_version":
        return []
    if not may_print(record, user):
        return []
    url = url_for("documents.version_pdf", version_id=record.id)
    return [RecordAction("View PDF (controlled copy)", url, "documents-pdf-controlled",
                         (("copy", "controlled"),)),
            RecordAction("Print PDF (uncontrolled)", url, "documents-pdf-uncontrolled",
                         (("copy", "uncontrolled"),)),
            RecordAction("Reviewers", url_for("documents.open_reviewers_page",
                                              version_id=record.id), "documents-reviewers")]

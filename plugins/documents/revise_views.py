"""The document page's own actions: Revise (a short form: minor or major, what changes and why,
the planned effective date; the new draft version opens) and Compare versions (details and
file text of two versions side by side)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from core import CQMSError, RecordAction, current_user, db, may_act_in, may_read, requires
from plugins.documents import queries
from plugins.documents.compare import compare
from plugins.documents.models import Document
from plugins.documents.numbering import next_label
from plugins.documents.services import revise
from plugins.documents.views import blueprint

REVISE = "/<int(max=2147483647):document_id>/revise"


def may_revise(document: Any, user: Any) -> bool:
    return (document.state == "effective" and queries.effective_version(document) is not None
            and may_act_in(user, "documents.create", study=document.study, site=document.site))


def revise_action(document: Any, user: Any) -> list[RecordAction]:
    if not may_revise(document, user):
        return []
    return [RecordAction("Revise", url_for("documents.open_revise_page",
                                           document_id=document.id), "documents-revise")]


def _document(document_id: int) -> Document:
    user = current_user._get_current_object()
    document = db.session.get(Document, document_id)
    if document is None or not may_read(document, user):
        abort(404)
    if not may_revise(document, user):
        abort(403)
    return document


def _form(document: Document, values: dict[str, str], error: str = "") -> Any:
    labels = [v.version_label for v in queries.versions_of(document)]
    return render_template(
        "documents/revise.html", document=document, values=values, error=error,
        minor=next_label(labels, major=False), major=next_label(labels, major=True),
        back=url_for("documents_document.details_view", id=document.id))


@blueprint.route(f"{REVISE}/open", methods=["POST"], provide_automatic_options=False)
@requires("documents.create")
def open_revise_page(document_id: int) -> Any:
    _document(document_id)
    return redirect(url_for(".revise_page", document_id=document_id), 303)


@blueprint.route(REVISE, methods=["GET"], provide_automatic_options=False)
@requires("documents.create")
def revise_page(document_id: int) -> Any:
    return _form(_document(document_id), {"kind": "minor"})


@blueprint.route(REVISE, methods=["POST"], provide_automatic_options=False)
@requires("documents.create")
def revise_document(document_id: int) -> Any:
    document = _document(document_id)
    values = {name: (request.form.get(name) or "").strip()[:2000]
              for name in ("kind", "change_summary", "change_reason", "planned_effective_date")}
    missing = [label for name, label in (("change_summary", "what changes"),
                                         ("change_reason", "why it changes"))
               if not values[name]]
    if values["kind"] not in ("minor", "major"):
        return _form(document, values, "Choose a minor or a major revision."), 422
    if missing:
        return _form(document, values, f"Say {' and '.join(missing)}."), 422
    try:
        planned = (date.fromisoformat(values["planned_effective_date"])
                   if values["planned_effective_date"] else None)
    except ValueError:
        return _form(document, values, "Planned effective date: use YYYY-MM-DD."), 422
    try:
        version = revise(document, current_user._get_current_object(),
                         major=values["kind"] == "major", change_summary=values["change_summary"],
                         change_reason=values["change_reason"], planned_effective_date=planned)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        return _form(document, values, str(exc)), 422
    flash(f"{version.number} is the new draft of {document.number}: attach its file, then "
          "submit it for review.", "info")
    return redirect(url_for("documents_version.details_view", id=version.id))


# -- comparing two versions ------------------------------------------------------------------

COMPARE = "/<int(max=2147483647):document_id>/compare"


def _readable_versions(document: Any, user: Any) -> list[Any]:
    return [v for v in queries.versions_of(document) if may_read(v, user)]


def compare_action(document: Any, user: Any) -> list[RecordAction]:
    if len(_readable_versions(document, user)) < 2:
        return []
    return [RecordAction("Compare versions", url_for("documents.open_compare_page",
                                                     document_id=document.id),
                         "documents-compare")]


@blueprint.route(f"{COMPARE}/open", methods=["POST"], provide_automatic_options=False)
@requires("documents.view")
def open_compare_page(document_id: int) -> Any:
    return redirect(url_for(".compare_page", document_id=document_id), 303)


@blueprint.route(COMPARE, methods=["GET"], provide_automatic_options=False)
@requires("documents.view")
def compare_page(document_id: int) -> Any:
    """Two versions the viewer may read (``a`` older, ``b`` newer; by default the last two)."""
    user = current_user._get_current_object()
    document = db.session.get(Document, document_id)
    if document is None or not may_read(document, user):
        abort(404)
    versions = _readable_versions(document, user)
    if len(versions) < 2:
        abort(404)
    by_id = {str(v.id): v for v in versions}
    older = by_id.get(request.args.get("a", ""), versions[-2])
    newer = by_id.get(request.args.get("b", ""), versions[-1])
    return render_template("documents/compare.html", document=document, versions=versions,
                           older=older, newer=newer, result=compare(older, newer),
                           back=url_for("documents_document.details_view", id=document.id))

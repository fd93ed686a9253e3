"""Submit a draft version for review in one step: its named reviewers (picked from the people
who may review it there) and the date the reviews are due, then the workflow's ``submit``
transition, in one transaction (``Transition(page=...)`` sends the record page's button here)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from core import (
    CQMSError,
    User,
    ValidationError,
    current_user,
    db,
    get_setting,
    may_act_in,
    requires,
    server_write,
    transition,
    utcnow,
)
from plugins.documents import queries
from plugins.documents.models import DocumentVersion
from plugins.documents.services import name_reviewer, withdraw_reviewer
from plugins.documents.views import _readable, blueprint

SUBMIT = "/versions/<int(max=2147483647):record_id>/submit"


def possible_reviewers(version: DocumentVersion) -> list[User]:
    """Active people who may review documents where the version is, its author left out."""
    return sorted((u for u in User.active_people()
                   if u.id != version.created_by_id
                   and may_act_in(u, "documents.review", study=version.study, site=version.site)),
                  key=lambda u: u.printed_name.lower())


def _version(record_id: int) -> DocumentVersion:
    version = _readable(record_id)
    if not may_act_in(current_user._get_current_object(), "documents.create",
                      study=version.study, site=version.site):
        abort(403)
    return version


def _page(version: DocumentVersion, chosen: set[int], due: str, reason: str, error: str = "",
          status: int = 200) -> Any:
    return render_template(
        "documents/submit.html", version=version, people=possible_reviewers(version),
        chosen=chosen, due=due, reason=reason, error=error,
        back=url_for("documents_version.details_view", id=version.id),
        default_count=version.reviews_required), status


@blueprint.route(SUBMIT, methods=["GET"], provide_automatic_options=False)
@requires("documents.create")
def submit_page(record_id: int) -> Any:
    version = _version(record_id)
    if version.state != "draft":
        flash(f"{version.number} is not a draft: it was submitted already.", "info")
        return redirect(url_for("documents_version.details_view", id=version.id))
    due = utcnow().date() + timedelta(days=get_setting("documents.review_due_days"))
    return _page(version, {r.user_id for r in queries.named_reviewers(version)},
                 due.isoformat(), "")


def _due_date(text: str) -> date:
    try:
        due = date.fromisoformat(text)
    except ValueError:
        raise ValidationError({"review_due": "Reviews due by: use a date (YYYY-MM-DD)."}) from None
    if due < utcnow().date():
        raise ValidationError({"review_due": "Reviews due by: the date is in the past."})
    return due


def _name_exactly(version: DocumentVersion, user: Any, wanted: set[int],
                  allowed: dict[int, User]) -> None:
    unknown = wanted - set(allowed)
    if unknown:
        raise ValidationError({"reviewers": "Choose reviewers from the list: someone chosen may "
                                            "not review documents here."})
    named = {r.user_id: r.user for r in queries.named_reviewers(version)}
    for user_id in sorted(set(named) - wanted):
        withdraw_reviewer(version, user, named[user_id].username, "Not chosen at submission")
    for user_id in sorted(wanted - set(named)):
        name_reviewer(version, user, allowed[user_id].username, "Chosen at submission")


@blueprint.route(SUBMIT, methods=["POST"], provide_automatic_options=False)
@requires("documents.create")
def submit_version(record_id: int) -> Any:
    version = _version(record_id)
    user = current_user._get_current_object()
    due_text, reason = (request.form.get("review_due") or "").strip()[:10], \
        (request.form.get("reason") or "").strip()[:2000]
    wanted = {int(v) for v in request.form.getlist("reviewers") if v.isdigit() and len(v) < 10}
    try:
        _name_exactly(version, user, wanted, {u.id: u for u in possible_reviewers(version)})
        with server_write("documents_version"):
            version.review_due = _due_date(due_text)
            db.session.flush()
        transition(version, "submit", user, reason=reason)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        return _page(db.session.get(DocumentVersion, record_id), wanted, due_text, reason,
                     str(exc), 422)
    named = len(wanted)
    flash(f"{version.number} submitted for review: "
          + (f"{named} named reviewer{'s' if named != 1 else ''}" if named else
             f"{version.reviews_required} review(s) by any reviewer")
          + f", due {version.review_due.isoformat()}.", "info")
    return redirect(url_for("documents_version.details_view", id=version.id))

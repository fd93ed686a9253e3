"""Pages of the periodic reviews: a user-access review's lines, each confirmed or revoked by
the reviewer (E6-24), and the system review report for a period in words (A11-11). Forms are
CSRF-protected POSTs; every page checks the reader's rights on the review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from core.db import db, utcnow
from core.errors import CQMSError, ValidationError
from core.permissions import may_act_in, requires
from core.records.pages import readable_or_404, record_page_url
from core.reviews.access_lines import access_lines, decide_line, undecided
from core.reviews.models import DECISIONS, AccessReviewLine, PeriodicReview
from core.reviews.system_report import parse_day, period_of, system_report
from core.specs import RecordAction

blueprint = Blueprint("core_reviews", __name__, url_prefix="/reviews")
INT = "int(max=2147483647)"
VIEW, PERFORM = "core.reviews.view", "core.reviews.perform"


def _user() -> Any:
    return current_user._get_current_object()


@blueprint.route(f"/<{INT}:review_id>/access-lines", provide_automatic_options=False)
@requires(VIEW)
def lines(review_id: int) -> Any:
    review = readable_or_404(PeriodicReview, review_id)
    if review.kind != "access":
        abort(404)
    may_decide = review.state == "open" and may_act_in(_user(), PERFORM, review.study)
    return render_template("core/reviews/access_lines.html", review=review,
                           rows=access_lines(review), left=undecided(review),
                           may_decide=may_decide, decisions=DECISIONS,
                           record_url=record_page_url(review))


@blueprint.route(f"/access-lines/<{INT}:line_id>/decide", methods=["POST"],
                 provide_automatic_options=False)
@requires(PERFORM)
def decide(line_id: int) -> Any:
    line = db.session.get(AccessReviewLine, line_id)
    if line is None:
        abort(404)
    review = readable_or_404(PeriodicReview, line.record_id)
    back = redirect(url_for(".lines", review_id=review.id) + f"#line-{line.id}")
    try:
        decide_line(line, _user(), request.form.get("decision", ""),
                    request.form.get("note", ""))
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{review.number}: the line was not decided: {exc}", "error")
        return back
    flash(f"{review.number}: {line.person}, {line.role_label} @ {line.scope} "
          f"{DECISIONS[line.decision].lower()}.", "info")
    return back


@blueprint.route("/system-report", provide_automatic_options=False)
@requires(VIEW)
def system_report_page() -> Any:
    """The report for the days asked (the last year by default), or the form with the
    problem when the dates are wrong."""
    if not may_act_in(_user(), VIEW):  # the report covers every study
        abort(403)
    today = utcnow().date()
    given = {"from": request.args.get("from", (today - timedelta(days=365)).isoformat()),
             "to": request.args.get("to", today.isoformat())}
    errors: dict[str, str] = {}
    sections = None
    try:
        start, end = period_of(parse_day("from", given["from"]), parse_day("to", given["to"]))
        sections = system_report(start, end)
    except ValidationError as exc:
        errors = exc.errors
    page = render_template("core/reviews/system_report.html", given=given, errors=errors,
                           sections=sections)
    return page, 422 if errors else 200


def record_actions(record: Any, user: Any) -> list[Any]:
    """The review's record page links to its access lines or to its period's system report."""
    if not isinstance(record, PeriodicReview):
        return []
    if record.kind == "access":
        return [RecordAction("Access lines (confirm or revoke)",
                             url_for("core_reviews.lines", review_id=record.id),
                             "review-access-lines", method="get")]
    if record.kind == "system" and record.period_start and record.period_end:
        last = record.period_end - timedelta(seconds=1)
        return [RecordAction("System review report", url_for(
            "core_reviews.system_report_page", **{"from": record.period_start.date().isoformat(),
                                                 "to": last.date().isoformat()}),
            "review-system-report", method="get")]
    return []

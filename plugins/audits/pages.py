"""The audits blueprint: planning a programme's audits (with each auditee's history), an
audit's team and checklist (answered in place on a laptop at the site, findings raised from an
answer), an inspection's request log, raising a CAPA for a finding, the audit calendar and the
audit report PDF. Every form is a POST with a CSRF token; every page checks the reader's rights.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from core import (
    CQMSError,
    Record,
    RecordAction,
    User,
    current_user,
    db,
    may_act_in,
    readable_or_404,
    record_page_url,
    requires,
    scope_clause,
    utcnow,
)
from plugins.audits import queries, services
from plugins.audits.models import (
    ANSWERS,
    AUDIT_TYPES,
    CLASSIFICATIONS,
    RISKS,
    TEAM_ROLES,
    Audit,
    AuditProgramme,
    ChecklistAnswer,
    ChecklistTemplate,
    Finding,
    InspectionRequest,
    PlannedAudit,
)
from plugins.audits.report import report_pdf_response

blueprint = Blueprint("audits", __name__, template_folder="templates", url_prefix="/audits")
INT = "int(max=2147483647)"
VIEW, PLAN, CONDUCT = "audits.view", "audits.plan", "audits.conduct"


def _user() -> Any:
    return current_user._get_current_object()


def _posted() -> bool:
    if FlaskForm().validate_on_submit():
        return True
    flash("The form expired: reload the page and try again.", "error")
    return False


def _done(work: Any, back: str, success: str) -> Any:
    """Run ``work()``, commit, and come back with what happened (nothing kept on an error)."""
    try:
        work()
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"Nothing was saved: {exc}", "error")
        return redirect(back)
    flash(success, "info")
    return redirect(back)


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        return None


def record_actions(record: Record, user: Any) -> list[RecordAction]:
    if record.type == "audits_programme":
        return [RecordAction("Planned audits", url_for("audits.programme", programme_id=record.id),
                             "audits-plan", method="get")]
    if record.type == "audits_audit":
        found = [RecordAction("Team and checklist", url_for("audits.audit", audit_id=record.id),
                              "audits-work", method="get"),
                 RecordAction("Audit report (PDF)", url_for("audits.report_pdf",
                                                            audit_id=record.id), "audits-report")]
        return found
    if record.type == "audits_finding" and record.state == "open" and \
            services.capa_available() and may_act_in(user, "capa.create", record.study,
                                                     record.site):
        return [RecordAction("Raise a CAPA", url_for("audits.raise_capa", finding_id=record.id),
                             "audits-raise-capa")]
    return []


# -- programme ----------------------------------------------------------------------------------


@blueprint.route(f"/programmes/<{INT}:programme_id>", provide_automatic_options=False)
@requires(VIEW)
def programme(programme_id: int) -> Any:
    found = readable_or_404(AuditProgramme, programme_id)
    rows = [(row, queries.auditee_history(row.auditee, _user(), exclude=row.audit_id))
            for row in queries.planned_audits(found)]
    return render_template(
        "audits/programme.html", programme=found, rows=rows, types=AUDIT_TYPES, risks=RISKS,
        auditors=[u for u in User.active_people() if may_act_in(u, CONDUCT, found.study,
                                                                   found.site)]
        if found.state == "draft" else [],
        may_plan=found.state == "draft" and may_act_in(_user(), PLAN, found.study, found.site),
        may_schedule=found.state == "approved" and may_act_in(_user(), PLAN, found.study,
                                                              found.site),
        record_url=record_page_url(found))


@blueprint.route(f"/programmes/<{INT}:programme_id>/plan", methods=["POST"],
                 provide_automatic_options=False)
@requires(PLAN)
def plan(programme_id: int) -> Any:
    found = readable_or_404(AuditProgramme, programme_id)
    back = url_for(".programme", programme_id=found.id)
    if not _posted():
        return redirect(back)
    form = request.form
    return _done(lambda: services.plan_audit(
        found, _user(), audit_type=form.get("audit_type", ""), auditee=form.get("auditee", ""),
        risk=form.get("risk", ""), rationale=form.get("rationale", ""),
        planned_date=_date("planned_date"), lead=User.by_id(form.get("lead_id", ""))),
        back, f"{found.number}: audit planned.")


@blueprint.route(f"/planned/<{INT}:row_id>/schedule", methods=["POST"],
                 provide_automatic_options=False)
@requires(PLAN)
def schedule(row_id: int) -> Any:
    row = db.session.get(PlannedAudit, row_id)
    found = readable_or_404(AuditProgramme, row.record_id) if row is not None else abort(404)
    back = url_for(".programme", programme_id=found.id)
    if not _posted():
        return redirect(back)
    return _done(lambda: services.schedule(row, _user()), back, "The audit is scheduled.")


# -- audit --------------------------------------------------------------------------------------


@blueprint.route(f"/audits/<{INT}:audit_id>", provide_automatic_options=False)
@requires(VIEW)
def audit(audit_id: int) -> Any:
    found = readable_or_404(Audit, audit_id)
    user = _user()
    people = User.active_people() if found.state == "planned" else []
    findings = queries.findings_of(found)
    return render_template(
        "audits/audit.html", audit=found, team=queries.team_of(found),
        answers=queries.answers_of(found), requests=queries.requests_of(found),
        findings=findings, finding_numbers={f.id: f.number for f in findings},
        templates=queries.templates(), people=people,
        roles=TEAM_ROLES, answer_choices=[a for a in ANSWERS if a[0]],
        classifications=CLASSIFICATIONS, conflicted=queries.conflicted(found),
        may_plan=found.state == "planned" and may_act_in(user, PLAN, found.study, found.site),
        may_conduct=found.state in services.FIELDWORK and may_act_in(user, CONDUCT, found.study,
                                                                     found.site),
        record_url=record_page_url(found))


@blueprint.route(f"/audits/<{INT}:audit_id>/team", methods=["POST"],
                 provide_automatic_options=False)
@requires(PLAN)
def add_member(audit_id: int) -> Any:
    found = readable_or_404(Audit, audit_id)
    back = url_for(".audit", audit_id=found.id) + "#team"
    if not _posted():
        return redirect(back)
    person = User.by_id(request.form.get("user_id", ""))
    return _done(lambda: services.add_member(found, _user(), person, request.form.get("role", "")),
                 back, f"{found.number}: team updated.")


@blueprint.route(f"/audits/<{INT}:audit_id>/checklist", methods=["POST"],
                 provide_automatic_options=False)
@requires(PLAN)
def load_checklist(audit_id: int) -> Any:
    found = readable_or_404(Audit, audit_id)
    back = url_for(".audit", audit_id=found.id) + "#checklist"
    if not _posted():
        return redirect(back)
    template = db.session.get(ChecklistTemplate, request.form.get("template_id", type=int) or 0)
    return _done(lambda: services.load_checklist(found, _user(), template), back,
                 f"{found.number}: checklist loaded.")


@blueprint.route(f"/answers/<{INT}:answer_id>", methods=["POST"],
                 provide_automatic_options=False)
@requires(CONDUCT)
def answer(answer_id: int) -> Any:
    row = db.session.get(ChecklistAnswer, answer_id)
    found = readable_or_404(Audit, row.record_id) if row is not None else abort(404)
    back = url_for(".audit", audit_id=found.id) + f"#answer-{answer_id}"
    if not _posted():
        return redirect(back)
    form = request.form
    if form.get("answer") == "finding" and form.get("finding_title", "").strip():
        def work() -> None:
            services.answer(row, _user(), "finding", form.get("note", ""))
            services.raise_finding(found, _user(), classification=form.get("classification", ""),
                                   title=form.get("finding_title", "").strip()[:300],
                                   evidence=form.get("note", ""), answer_row=row,
                                   requirement_ref=row.question[:200])
        return _done(work, back, f"{found.number}: answer saved and finding raised.")
    return _done(lambda: services.answer(row, _user(), form.get("answer", ""),
                                         form.get("note", "")),
                 back, f"{found.number}: answer {row.position} saved.")


@blueprint.route(f"/audits/<{INT}:audit_id>/requests", methods=["POST"],
                 provide_automatic_options=False)
@requires(CONDUCT)
def log_request(audit_id: int) -> Any:
    found = readable_or_404(Audit, audit_id)
    back = url_for(".audit", audit_id=found.id) + "#requests"
    if not _posted():
        return redirect(back)
    return _done(lambda: services.log_request(found, _user(), request.form.get("request", "")),
                 back, f"{found.number}: request logged.")


@blueprint.route(f"/requests/<{INT}:request_id>", methods=["POST"],
                 provide_automatic_options=False)
@requires(CONDUCT)
def provide(request_id: int) -> Any:
    row = db.session.get(InspectionRequest, request_id)
    found = readable_or_404(Audit, row.record_id) if row is not None else abort(404)
    back = url_for(".audit", audit_id=found.id) + "#requests"
    if not _posted():
        return redirect(back)
    return _done(lambda: services.provide(row, _user(), request.form.get("provided", "")),
                 back, f"{found.number}: what was provided is logged.")


@blueprint.route(f"/audits/<{INT}:audit_id>/report.pdf", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def report_pdf(audit_id: int) -> Any:
    found = readable_or_404(Audit, audit_id)
    if not _posted():
        return redirect(record_page_url(found))
    return report_pdf_response(found, _user())


# -- finding ------------------------------------------------------------------------------------


@blueprint.route(f"/findings/<{INT}:finding_id>/raise-capa", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def raise_capa(finding_id: int) -> Any:
    found = readable_or_404(Finding, finding_id)
    back = record_page_url(found)
    if not _posted():
        return redirect(back)
    return _done(lambda: services.raise_capa(found, _user()), back,
                 f"{found.number}: raised in quality events and CAPA; it closes once that is "
                 "closed and verified.")


# -- calendar -----------------------------------------------------------------------------------


@blueprint.route("/calendar", provide_automatic_options=False)
@requires(VIEW)
def calendar() -> Any:
    """Audits by month of their planned date, this quarter and the next three, in scope."""
    today = utcnow().date()
    first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = date(first.year + 1, first.month, 1)  # four quarters
    audits = list(db.session.scalars(select(Audit).where(
        Audit.planned_date >= first, Audit.planned_date < end,
        scope_clause(_user(), VIEW, Record.study_id, Record.site_id))
        .order_by(Audit.planned_date, Audit.id)))
    months: dict[str, list[Audit]] = {}
    for found in audits:
        months.setdefault(f"{found.planned_date:%Y-%m}", []).append(found)
    return render_template("audits/calendar.html", months=months, today=today,
                           types=dict(AUDIT_TYPES))

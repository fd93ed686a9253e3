"""The CAPA blueprint: a CAPA's actions (plan them, complete one's own), an event's analysis
lines, *My CAPA actions*, raising a CAPA from an event, and the whole chain of a CAPA or event
(event -> containment -> investigation -> actions -> effectiveness -> closure, with signatures).
Every form is a POST with a CSRF token; every page checks the reader's rights on the record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from core import (
    CQMSError,
    Record,
    RecordAction,
    User,
    create_record,
    current_user,
    db,
    get_setting,
    link_records,
    may_act_in,
    may_read,
    readable_or_404,
    record_page_url,
    requires,
    utcnow,
)
from plugins.capa import chain, queries, services
from plugins.capa.chain_pdf import chain_pdf_response
from plugins.capa.models import ACTION_KINDS, Capa, CapaAction, QualityEvent

blueprint = Blueprint("capa", __name__, template_folder="templates", url_prefix="/capa")
INT = "int(max=2147483647)"
VIEW, CREATE = "capa.view", "capa.create"
FIVE_WHYS = ("Why 1", "Why 2", "Why 3", "Why 4", "Why 5")
FISHBONE = ("People", "Methods", "Machines / systems", "Materials", "Measurement",
            "Environment")


class ActionForm(FlaskForm):
    kind = SelectField("Kind", choices=list(ACTION_KINDS))
    description = TextAreaField("Action", validators=[Length(max=4000)])
    owner_id = SelectField("Owner", coerce=str)
    due_date = DateField("Due", validators=[Optional()])


class CompleteForm(FlaskForm):
    evidence = TextAreaField("What was done (evidence)", validators=[Length(max=4000)])
    result = StringField("Record it produced (number, optional)",
                         validators=[Optional(), Length(max=64)])


class AnalysisForm(FlaskForm):
    part = SelectField("Part", choices=[(p, p) for p in (*FIVE_WHYS, *FISHBONE, "Other")])
    finding = TextAreaField("Finding", validators=[Length(max=4000)])


def _user() -> Any:
    return current_user._get_current_object()


def record_actions(record: Record, user: Any) -> list[RecordAction]:
    """The buttons the record page shows for events and CAPAs."""
    if record.type == "capa_capa":
        return [RecordAction("Actions", url_for("capa.actions", capa_id=record.id),
                             "capa-actions", method="get"),
                RecordAction("Whole chain", url_for("capa.chain_page", record_id=record.id),
                             "capa-chain", method="get")]
    if record.type != "capa_event":
        return []
    found = [RecordAction("Analysis (5 whys, fishbone)",
                          url_for("capa.analysis", event_id=record.id), "capa-analysis",
                          method="get")]
    if record.state in ("investigating", "investigated") and \
            may_act_in(user, CREATE, record.study, record.site):
        found.append(RecordAction("Raise a CAPA", url_for("capa.raise_capa",
                                                          event_id=record.id), "capa-raise"))
    found.append(RecordAction("Whole chain", url_for("capa.chain_page", record_id=record.id),
                              "capa-chain", method="get"))
    return found


def _owner_choices(capa: Capa) -> list[tuple[str, str]]:
    """People who may work on the CAPA (an action's owner records its completion)."""
    return [("", "(choose)")] + [(str(u.id), u.printed_name) for u in User.active_people()
                                 if services.may_own_actions(u, capa)]


@blueprint.route(f"/capas/<{INT}:capa_id>/actions", provide_automatic_options=False)
@requires(VIEW)
def actions(capa_id: int) -> Any:
    capa = readable_or_404(Capa, capa_id)
    user = _user()
    form = ActionForm()
    form.owner_id.choices = _owner_choices(capa)
    form.due_date.data = min(d for d in (capa.due_date, utcnow().date() + timedelta(
        days=get_setting("capa.default_due_days"))) if d is not None)
    return render_template(
        "capa/actions.html", capa=capa, rows=queries.actions_of(capa), form=form,
        may_plan=capa.state == "planning" and may_act_in(user, CREATE, capa.study, capa.site),
        complete_form=CompleteForm(), user=user, record_url=record_page_url(capa))


@blueprint.route(f"/capas/<{INT}:capa_id>/actions", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def add_action(capa_id: int) -> Any:
    capa = readable_or_404(Capa, capa_id)
    form = ActionForm()
    form.owner_id.choices = _owner_choices(capa)
    back = redirect(url_for(".actions", capa_id=capa.id))
    if not form.validate_on_submit():
        flash("Check the form: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in
                                              form.errors.items()), "error")
        return back
    owner = User.by_id(form.owner_id.data) if form.owner_id.data else None
    try:
        services.add_action(capa, _user(), kind=form.kind.data,
                            description=form.description.data, owner=owner,
                            due_date=form.due_date.data)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{capa.number}: no action was added: {exc}", "error")
        return back
    flash(f"{capa.number}: action planned.", "info")
    return back


@blueprint.route(f"/actions/<{INT}:action_id>/complete", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def complete_action(action_id: int) -> Any:
    action = db.session.get(CapaAction, action_id)
    capa = readable_or_404(Capa, action.record_id) if action is not None else abort(404)
    form = CompleteForm()
    back = redirect(url_for(".actions", capa_id=capa.id))
    if not form.validate_on_submit():
        flash("The form expired: reload the page and try again.", "error")
        return back
    user = _user()
    result = None
    if form.result.data:
        result = Record.by_number(form.result.data)
        if result is None or not may_read(result, user):
            flash(f"No record numbered {form.result.data.strip()!r} that you may see.", "error")
            return back
    try:
        services.complete_action(action, user, evidence=form.evidence.data, result=result)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{capa.number}: the action was not completed: {exc}", "error")
        return back
    flash(f"{capa.number}: action completed.", "info")
    return back


@blueprint.route("/my-actions", provide_automatic_options=False)
@requires(VIEW)
def my_actions() -> Any:
    user = _user()
    rows = db.session.execute(
        select(CapaAction, Capa).join(Capa, Capa.id == CapaAction.record_id)
        .where(CapaAction.owner_id == user.id, CapaAction.completed_at.is_(None),
               Record.state.in_(("planning", "impact_verified", "implementation")))
        .order_by(CapaAction.due_date, CapaAction.id)).all()
    rows = [(a, c) for a, c in rows if may_read(c, user)]
    return render_template("capa/my_actions.html", rows=rows, today=utcnow().date(),
                           complete_form=CompleteForm())


@blueprint.route(f"/events/<{INT}:event_id>/analysis", provide_automatic_options=False)
@requires(VIEW)
def analysis(event_id: int) -> Any:
    event = readable_or_404(QualityEvent, event_id)
    user = _user()
    return render_template(
        "capa/analysis.html", event=event, rows=queries.analysis_of(event), form=AnalysisForm(),
        may_add=event.state == "investigating" and may_act_in(user, CREATE, event.study,
                                                             event.site),
        record_url=record_page_url(event))


@blueprint.route(f"/events/<{INT}:event_id>/analysis", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def add_analysis(event_id: int) -> Any:
    event = readable_or_404(QualityEvent, event_id)
    form = AnalysisForm()
    back = redirect(url_for(".analysis", event_id=event.id))
    if not form.validate_on_submit():
        flash("Check the form: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in
                                              form.errors.items()), "error")
        return back
    try:
        services.add_analysis_line(event, _user(), form.part.data, form.finding.data)
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{event.number}: nothing was added: {exc}", "error")
        return back
    flash(f"{event.number}: {form.part.data} added.", "info")
    return back


@blueprint.route(f"/events/<{INT}:event_id>/raise-capa", methods=["POST"],
                 provide_automatic_options=False)
@requires(CREATE)
def raise_capa(event_id: int) -> Any:
    """A CAPA addressing the event, in its scope and category; opened for editing."""
    event = readable_or_404(QualityEvent, event_id)
    if not FlaskForm().validate_on_submit():
        flash("The form expired: reload the page and try again.", "error")
        return redirect(record_page_url(event))
    user = _user()
    try:
        capa = create_record("capa_capa", user, reason=f"Raised for {event.number}",
                             title=f"CAPA for {event.number}: {event.title}"[:300],
                             category=event.category, study_id=event.study_id,
                             site_id=event.site_id,
                             problem_statement=event.description or event.title,
                             priority={"critical": "high", "major": "medium"}.get(
                                 event.severity, "low"))
        link_records(capa, event, queries.ADDRESSES, user, reason=f"Raised for {event.number}")
        db.session.commit()
    except CQMSError as exc:
        db.session.rollback()
        flash(f"{event.number}: no CAPA was raised: {exc}", "error")
        return redirect(record_page_url(event))
    flash(f"{capa.number} raised for {event.number}: state the problem and plan its actions.",
          "info")
    return redirect(url_for("capa_capa.edit_view", id=capa.id))


@blueprint.route(f"/records/<{INT}:record_id>/chain", provide_automatic_options=False)
@requires(VIEW)
def chain_page(record_id: int) -> Any:
    record = Record.by_id(record_id)
    if not isinstance(record, (Capa, QualityEvent)) or not may_read(record, _user()):
        abort(404)
    return render_template("capa/chain.html", record=record,
                           steps=chain.chain_of(record, _user()), record_url=record_page_url(record))


@blueprint.route(f"/records/<{INT}:record_id>/chain.pdf", methods=["POST"],
                 provide_automatic_options=False)
@requires(VIEW)
def chain_pdf(record_id: int) -> Any:
    record = Record.by_id(record_id)
    if not isinstance(record, (Capa, QualityEvent)) or not may_read(record, _user()):
        abort(404)
    if not FlaskForm().validate_on_submit():
        flash("The form expired: reload the page and try again.", "error")
        return redirect(url_for(".chain_page", record_id=record.id))
    return chain_pdf_response(record, _user())

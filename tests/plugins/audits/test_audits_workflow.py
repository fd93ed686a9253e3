"""The audit programme (ISO-12, E6-08): audits planned in draft with their risk and rationale,
the plan in words signed by the approval, audits scheduled from an approved programme once, the
auditee's history; the audit's objectivity (ISO-13): a conflicted auditor needs QA's signed
justification; the checklist copied from a fixed template version and answered in place."""

from __future__ import annotations

import pytest
from audits_helpers import (
    edit,
    in_days,
    member,
    new_audit,
    new_programme,
    new_template,
    plan,
    raise_one,
    refused,
    sig,
    staffed,
    started,
    step,
    team,
)

from core import (
    ConflictError,
    PermissionDenied,
    ValidationError,
    WorkflowError,
    audit_reason,
    db,
    signatures_of,
)
from plugins.audits import queries, services
from plugins.audits.models import Audit, ChecklistTemplate

pytestmark = pytest.mark.plugins("audits")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


# -- the programme (ISO-12, E6-08) -------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-12", "E6-08")
def test_a_programme_is_approved_with_its_period_and_planned_audits_signed(people):
    aud, quinn = people["aud"], people["quinn"]
    programme = new_programme(aud, period=False)
    error = refused(programme, "approve", quinn, WorkflowError, signature=sig())
    for words in ("give the programme's period", "plan at least one audit"):
        assert any(words in reason for reason in error.reasons), error.reasons
    edit(programme, aud, period_start=in_days(-30), period_end=in_days(335))
    refused(programme, "approve", quinn, WorkflowError, "plan at least one audit",
            signature=sig())
    site = plan(programme, aud, days=20, lead=people["ada"])
    vendor = plan(programme, aud, auditee="EuroLab GmbH", audit_type="vendor", risk="medium",
                  rationale="New vendor.", days=60)
    assert queries.planned_audits(programme) == [site, vendor]
    assert programme.plan.splitlines() == [
        f"1. {in_days(20).isoformat()} Investigator site: Site 101 Berlin (risk high; "
        "Highest enrolment.; auditor Ada Tester (ada))",
        f"2. {in_days(60).isoformat()} Vendor / CRO: EuroLab GmbH (risk medium; New vendor.; "
        "auditor not named)"]
    refused(programme, "approve", aud, PermissionDenied, signature=sig())  # plans, not approves
    step(programme, "approve", quinn, signature=sig())
    [approval] = signatures_of(programme)
    assert (programme.state, approval.meaning, approval.signer_id, approval.valid) == (
        "approved", "approved", quinn.id, True)
    with pytest.raises(ConflictError, match="revise it"):
        plan(programme, aud, auditee="Too late")
    db.session.rollback()
    assert len(queries.planned_audits(programme)) == 2 and approval.valid


@pytest.mark.req("ISO-12")
def test_planning_checks_the_type_risk_date_and_words(people):
    aud = people["aud"]
    programme = new_programme(aud)
    for values, field in (({"audit_type": "picnic"}, "audit_type"), ({"risk": "huge"}, "risk"),
                          ({"planned_date": None}, "planned_date"), ({"auditee": " "}, "auditee"),
                          ({"rationale": ""}, "rationale"),
                          ({"lead": people["quinn"]}, "lead_id")):  # QA does not conduct
        with pytest.raises(ValidationError) as caught:
            plan(programme, aud, **values)
        db.session.rollback()
        assert field in caught.value.errors, (values, caught.value.errors)
    with pytest.raises(PermissionDenied):  # an inspector reads the programme, plans nothing
        plan(programme, people["ivan"])
    db.session.rollback()
    assert queries.planned_audits(programme) == [] and programme.plan == ""
    with pytest.raises(ValidationError) as caught:
        edit(programme, aud, period_start=in_days(10), period_end=in_days(5))
    db.session.rollback()
    assert "period_end" in caught.value.errors


@pytest.mark.req("ISO-12")
def test_a_planned_audit_is_scheduled_once_from_an_approved_programme(people):
    aud, quinn = people["aud"], people["quinn"]
    programme = new_programme(aud)
    row = plan(programme, aud, days=20, lead=people["ada"])
    unled = plan(programme, aud, auditee="EuroLab GmbH", audit_type="vendor")
    with pytest.raises(ConflictError, match="not approved"):
        services.schedule(row, aud)
    db.session.rollback()
    step(programme, "approve", quinn, signature=sig())
    audit = services.schedule(row, aud)
    db.session.commit()
    assert isinstance(audit, Audit) and audit.state == "planned" and row.audit_id == audit.id
    assert (audit.audit_type, audit.auditee, audit.planned_date, audit.title) == (
        "investigator_site", "Site 101 Berlin", in_days(20),
        "Investigator site audit: Site 101 Berlin")
    assert [(m.user_id, m.role) for m in queries.team_of(audit)] == [(people["ada"].id, "lead")]
    with pytest.raises(ConflictError, match=f"scheduled already \\({audit.number}\\)"):
        services.schedule(row, aud)
    db.session.rollback()
    assert db.session.query(Audit).count() == 1
    other = services.schedule(unled, aud)
    db.session.commit()
    assert queries.team_of(other) == [] and other.audit_type == "vendor"
    assert signatures_of(programme)[0].valid  # scheduling does not change what was signed


@pytest.mark.req("ISO-12")
def test_the_auditee_history_counts_earlier_audits_and_open_findings(people):
    aud = people["aud"]
    assert queries.auditee_history("Site 101 Berlin", aud) == {
        "audits": 0, "open_findings": 0, "last": None}
    older = new_audit(aud, title="Last year's audit", days=-300)
    newer = started(new_audit(aud, title="This year's audit", days=-5), people)
    new_audit(aud, title="Another auditee", auditee="EuroLab GmbH")
    raise_one(newer, aud, title="Open one")
    withdrawn = raise_one(newer, aud, classification="minor", title="Withdrawn one")
    step(withdrawn, "withdraw", people["aud"], reason="Raised in error")
    history = queries.auditee_history(" site 101 berlin ", aud)
    # Only audits under way or done are history: the one merely planned is not.
    assert (history["audits"], history["open_findings"], history["last"]) == (1, 1, newer)
    assert older.planned_date < newer.planned_date
    assert queries.auditee_history("", aud)["audits"] == 0


# -- objectivity (ISO-13) ------------------------------------------------------------------------


@pytest.mark.req("ISO-13")
def test_the_audit_starts_with_a_lead_a_scope_and_criteria(people):
    aud = people["aud"]
    audit = new_audit(aud, criteria=" ")
    error = refused(audit, "start", aud, WorkflowError)
    assert any("lead auditor" in r for r in error.reasons), error.reasons
    assert any("scope and the criteria" in r for r in error.reasons), error.reasons
    member(audit, aud, aud, "lead")
    with pytest.raises(ConflictError, match="lead auditor already"):
        member(audit, aud, people["ada"], "lead")
    db.session.rollback()
    with pytest.raises(ConflictError, match="already on"):
        member(audit, aud, aud, "lead")
    db.session.rollback()
    with pytest.raises(ValidationError) as caught:
        member(audit, aud, people["ada"], "boss")
    db.session.rollback()
    assert "role" in caught.value.errors
    refused(audit, "start_justified", people["quinn"], WorkflowError, "no auditor is also audited",
            signature=sig())
    edit(audit, aud, criteria="Protocol v4.")
    step(audit, "start", aud)
    assert (audit.state, audit.started_on) == ("in_progress", in_days(0))
    with pytest.raises(ConflictError, match="has started"):
        member(audit, aud, people["ada"], "auditor")
    db.session.rollback()


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-13")
def test_an_auditor_auditing_their_own_work_starts_only_with_a_signed_justification(people):
    aud, ada, quinn = people["aud"], people["ada"], people["quinn"]
    audit = new_audit(aud, audit_type="internal_process", auditee="Archiving")
    member(audit, aud, aud, "lead")
    member(audit, aud, ada, "auditor")
    member(audit, aud, ada, "process_owner")  # ada would audit her own process
    assert queries.conflicted(audit) == [ada]
    refused(audit, "start", aud, WorkflowError, "Ada Tester (ada) would audit their own work")
    refused(audit, "start_justified", quinn, WorkflowError, "Objectivity justification",
            signature=sig())
    edit(audit, aud, objectivity_justification="Only archivist; QA reviews her answers.")
    refused(audit, "start_justified", aud, PermissionDenied, signature=sig())  # not QA
    step(audit, "start_justified", quinn, signature=sig())
    [signed] = signatures_of(audit)
    assert (audit.state, signed.meaning, signed.signer_id, signed.transition) == (
        "in_progress", "approved", quinn.id, "start_justified")
    edit(audit, aud, summary="Written during the fieldwork.")
    assert signatures_of(audit)[0].valid  # not what the justification's signature covers
    edit(audit, aud, objectivity_justification="Changed after QA signed.")
    [signed] = signatures_of(audit)
    assert not signed.valid and signed.invalidated_reason == "signed content changed"


# -- the checklist -------------------------------------------------------------------------------


def test_a_checklist_is_copied_once_from_a_template_version(people):
    aud = people["aud"]
    template = new_template()
    audit = new_audit(aud)
    assert services.load_checklist(audit, aud, template) == 3
    db.session.commit()
    rows = queries.answers_of(audit)
    assert [(r.position, r.question, r.expected_evidence, r.answer) for r in rows] == [
        (1, "Is the current ICF in use?", "ICF log", ""),
        (2, "Is the delegation log signed before the tasks?", "Delegation log", ""),
        (3, "Is IP stored within its temperature range?", "", "")]
    assert audit.checklist_id == template.id and str(audit.checklist) == "Mini checklist mini (v1)"
    with pytest.raises(ConflictError, match="checklist already"):
        services.load_checklist(audit, aud, new_template(version=2))
    db.session.rollback()
    assert len(queries.answers_of(audit)) == 3
    retired = new_template(key="old")
    with audit_reason("test: retired"):
        retired.active = False
        db.session.flush()
    db.session.commit()
    for offered in (None, retired):
        with pytest.raises(ValidationError):
            services.load_checklist(new_audit(aud, title="Another"), aud, offered)
        db.session.rollback()
    assert retired not in queries.templates()


def test_a_template_version_never_changes_but_may_be_retired(people):
    template = new_template()
    with pytest.raises(ValidationError) as caught, audit_reason("test: edit"):
        template.questions = "A question nobody approved"
        db.session.flush()
    db.session.rollback()
    assert "questions" in caught.value.errors
    with audit_reason("test: retire"):
        template.active = False
        db.session.flush()
    db.session.commit()
    for values, field in (({"questions": " \n | evidence only"}, "questions"),
                          ({"key": "Site GCP"}, "key")):
        with pytest.raises(ValidationError) as caught, audit_reason("test: new"):
            db.session.add(ChecklistTemplate(**{"key": "fresh", "version": 1, "title": "T",
                                                "questions": "Q? | E", **values}))
            db.session.flush()
        db.session.rollback()
        assert field in caught.value.errors, caught.value.errors


def test_answers_are_given_in_progress_and_finish_needs_every_one(people):
    aud = people["aud"]
    audit = staffed(new_audit(aud), people)
    first, second, third = queries.answers_of(audit)
    with pytest.raises(ConflictError, match="not in progress"):
        services.answer(first, aud, "conforms", "")
    db.session.rollback()
    step(audit, "start", aud)
    with pytest.raises(ValidationError):
        services.answer(first, aud, "maybe", "")
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # QA approves, it does not conduct
        services.answer(first, people["quinn"], "conforms", "")
    db.session.rollback()
    services.answer(first, aud, "conforms", " Seen. ")
    db.session.commit()
    assert (first.answer, first.note, first.answer_words) == ("conforms", "Seen.", "Conforms")
    refused(audit, "finish", aud, WorkflowError, "2 checklist question(s) not answered")
    services.answer(second, aud, "finding", "Unsigned entries.")
    services.answer(third, aud, "not_applicable", "")
    db.session.commit()
    refused(audit, "finish", aud, WorkflowError, "1 answer(s) marked 'finding' without a finding")
    raise_one(audit, aud, title="Delegation log unsigned", answer_row=second)
    assert second.finding_id is not None
    step(audit, "finish", aud)
    assert (audit.state, audit.ended_on) == ("reporting", in_days(0))


def test_answers_are_fixed_once_the_fieldwork_is_finished(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    for row in queries.answers_of(audit):
        services.answer(row, aud, "conforms", "")
    db.session.commit()
    step(audit, "finish", aud)
    first = queries.answers_of(audit)[0]
    with pytest.raises(ConflictError):  # a 'finding' no finding stands for, after the guard
        services.answer(first, aud, "finding", "Changed my mind.")
    db.session.rollback()

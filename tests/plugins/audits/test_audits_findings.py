"""Findings (ISO-14): raised while the audit is audited, in its study and site, classified, with
a response due; answered (response and actions, or something raised for them), verified and
closed with a signature once what was raised is closed; the report approved by someone outside
the team and the audit closed once its findings are. Without the CAPA plugin a finding's actions
are recorded on it. Hosted inspections log the inspectors' requests."""

from __future__ import annotations

import pytest
from audits_helpers import (
    closed,
    edit,
    in_days,
    member,
    new_audit,
    raise_one,
    refused,
    reported,
    responded,
    sig,
    started,
    step,
    studies,
    team,
)

from core import (
    ConflictError,
    ValidationError,
    WorkflowError,
    audit_reason,
    create_record,
    db,
    link_records,
    signatures_of,
)
from core.records.content import content_hash, content_of
from core.settings import set_setting
from plugins.audits import queries, services

pytestmark = pytest.mark.plugins("audits")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def finding_of(audit, user, **values):  # type: ignore[no-untyped-def]
    """A finding created as any path would (API, admin): through ``create_record``."""
    found = create_record("audits_finding", user, **{
        "title": "Raised directly", "audit_id": audit.id, "classification": "minor", **values})
    db.session.commit()
    return found


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-14")
def test_findings_are_raised_in_the_fieldwork_in_the_audits_site_with_a_response_due(people):
    aud = people["aud"]
    berlin, _lyon = studies()
    audit = new_audit(aud, study_id=berlin.study_id, site_id=berlin.id)
    for attempt, words in ((lambda: raise_one(audit, aud), "not in progress"),
                           (lambda: finding_of(audit, aud), "not in its fieldwork")):
        with pytest.raises(ConflictError, match=words):
            attempt()
        db.session.rollback()
    with pytest.raises(ValidationError) as caught:
        finding_of(audit, aud, audit_id=None)
    db.session.rollback()
    assert "audit_id" in caught.value.errors
    started(audit, people)
    found = raise_one(audit, aud, classification="major", requirement_ref="ICH E6(R3) 2.8.10")
    assert (found.study_id, found.site_id, found.state) == (berlin.study_id, berlin.id, "open")
    assert (found.response_due, found.audit, found.owner_id) == (in_days(30), audit, aud.id)
    with audit_reason("test: setting"):
        set_setting("audits.finding_response_days", 10)
    db.session.commit()
    direct = finding_of(audit, aud)  # the API or admin path: same rules
    assert (direct.response_due, direct.site_id) == (in_days(10), berlin.id)
    with pytest.raises(ValidationError) as caught:
        raise_one(audit, aud, classification="catastrophic")
    db.session.rollback()
    assert "classification" in caught.value.errors
    assert "Observation / recommendation" in caught.value.errors["classification"]
    with pytest.raises(ValidationError) as caught:
        edit(found, aud, classification="bad")
    db.session.rollback()
    assert "classification" in caught.value.errors
    with pytest.raises(ValidationError):  # a finding stays with its audit
        edit(found, aud, audit_id=new_audit(aud, title="Another").id)
    db.session.rollback()
    assert queries.findings_of(audit) == [found, direct]


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-14")
def test_a_finding_is_answered_verified_and_closed_with_a_signature(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    found = raise_one(audit, aud)
    error = refused(found, "respond", aud, WorkflowError)
    assert any("auditee's response" in r for r in error.reasons), error.reasons
    assert any("proposed actions, or raise a CAPA" in r for r in error.reasons), error.reasons
    edit(found, aud, response="Old copies withdrawn.")
    refused(found, "respond", aud, WorkflowError, "proposed actions")
    edit(found, aud, proposed_actions="Check ICF versions at each visit.")
    step(found, "respond", aud)
    refused(found, "verify_and_close", aud, WorkflowError, "field Verification",
            signature=sig())
    edit(found, aud, verification="Checked at the next visit: v4 only.")
    refused(found, "verify_and_close", aud, ValidationError)  # signed, not just clicked
    step(found, "verify_and_close", aud, signature=sig())
    [signed] = signatures_of(found)
    assert (found.state, signed.meaning, signed.signer_id, signed.valid) == (
        "closed", "verified", aud.id, True)
    assert content_of(found)["verification"] == "Checked at the next visit: v4 only."
    assert signed.content_hash == content_hash(content_of(found))
    assert found.verified_at is not None
    with pytest.raises(ValidationError, match="never changes"):
        edit(found, aud, verification="Rewritten afterwards.")
    db.session.rollback()


@pytest.mark.req("ISO-14")
def test_something_linked_into_a_finding_answers_for_actions_and_is_closed_first(people):
    aud, quinn = people["aud"], people["quinn"]
    audit = started(new_audit(aud), people)
    found = raise_one(audit, aud)
    follow_up = new_audit(aud, title="Follow-up audit")  # planned: not closed
    link_records(follow_up, found, "relates_to", aud, reason="test")
    db.session.commit()
    assert queries.linked_into(found) == [follow_up]
    edit(found, aud, response="A follow-up audit will check it.")
    step(found, "respond", aud)  # no proposed actions needed: something was raised for it
    edit(found, aud, verification="See the follow-up audit.")
    refused(found, "verify_and_close", aud, WorkflowError, f"still open: {follow_up.number}",
            signature=sig())
    step(follow_up, "cancel", quinn, reason="Checked at the routine visit instead")
    step(found, "verify_and_close", aud, signature=sig())
    assert found.state == "closed"


@pytest.mark.req("ISO-14")
def test_without_capa_a_capa_is_refused_and_the_actions_are_recorded_instead(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    found = raise_one(audit, aud)
    assert not services.capa_available()
    with pytest.raises(ConflictError, match="CAPA plugin is not enabled"):
        services.raise_capa(found, aud)
    db.session.rollback()
    assert queries.linked_into(found) == []
    closed(responded(found, aud, actions="Site withdraws ICF v3; monitor checks."), aud)
    assert found.state == "closed"


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-14", "E6-08")
def test_the_report_is_approved_outside_the_team_and_the_audit_closes_after_its_findings(
        people):
    aud, ada, quinn, vic = people["aud"], people["ada"], people["quinn"], people["vic"]
    audit = new_audit(aud)
    member(audit, aud, vic, "auditor")  # a QA manager on the team
    audit = started(audit, people)
    found = raise_one(audit, aud)
    withdrawn = raise_one(audit, ada, classification="observation", title="Not a finding")
    refused(withdrawn, "withdraw", aud, ValidationError, "reason")
    step(withdrawn, "withdraw", aud, reason="Raised in error")
    refused(audit, "close", aud, WorkflowError)  # in progress: the report is not approved
    reported(audit, people)
    edit(audit, aud, conclusions=" ")
    refused(audit, "approve_report", quinn, WorkflowError, "summary and conclusions",
            signature=sig())
    edit(audit, aud, conclusions="The site remains suitable.")
    refused(audit, "approve_report", vic, WorkflowError, "is on the team", signature=sig())
    refused(audit, "close", aud, WorkflowError)  # reporting: the report is not approved
    step(audit, "approve_report", quinn, signature=sig())
    approval = signatures_of(audit)[-1]
    assert (audit.state, approval.meaning, approval.signer_id) == (
        "report_approved", "approved", quinn.id)
    refused(audit, "close", aud, WorkflowError, f"findings still open: {found.number}")
    closed(responded(found, aud), aud)
    edit(audit, aud, summary="Changed after the approval.")  # invalidates the approval
    refused(audit, "close", aud, WorkflowError, "changed after its approval")
    step(audit, "revise_report", aud, reason="Summary corrected")
    step(audit, "approve_report", quinn, signature=sig())
    step(audit, "close", aud)
    assert audit.state == "closed" and withdrawn.state == "withdrawn"
    with pytest.raises(ValidationError, match="never changes"):
        edit(audit, aud, summary="Rewritten after closure.")
    db.session.rollback()


def test_findings_may_still_be_raised_while_reporting_but_not_after_approval(people):
    aud, quinn = people["aud"], people["quinn"]
    audit = reported(started(new_audit(aud), people), people)
    assert audit.state == "reporting"
    late = raise_one(audit, aud, title="Found while writing the report")
    assert late.state == "open"
    step(audit, "approve_report", quinn, signature=sig())
    with pytest.raises(ConflictError):
        raise_one(audit, aud, title="Too late")
    db.session.rollback()
    with pytest.raises(ConflictError, match="fieldwork or reporting"):
        finding_of(audit, aud)
    db.session.rollback()
    assert queries.findings_of(audit) == [late]


# -- hosted inspections ---------------------------------------------------------------------------


def test_inspector_requests_are_logged_only_for_a_hosted_inspection_in_progress(people):
    aud, quinn = people["aud"], people["quinn"]
    inspection = new_audit(aud, title="EMA inspection", audit_type="regulatory_inspection",
                           auditee="Sponsor QA")
    with pytest.raises(ConflictError, match="not in progress"):
        services.log_request(inspection, aud, "The TMF index")
    db.session.rollback()
    site_audit = started(new_audit(aud, title="Site audit"), people)
    with pytest.raises(ConflictError, match="not a hosted inspection"):
        services.log_request(site_audit, aud, "The TMF index")
    db.session.rollback()
    started(inspection, people)
    with pytest.raises(ValidationError) as caught:
        services.log_request(inspection, aud, "  ")
    db.session.rollback()
    assert "request" in caught.value.errors
    asked = services.log_request(inspection, aud, " The TMF index ")
    db.session.commit()
    assert (asked.request, asked.provided_at) == ("The TMF index", None)
    with pytest.raises(ValidationError):
        services.provide(asked, aud, "")
    db.session.rollback()
    services.provide(asked, aud, "TMF index v12, printed.")
    db.session.commit()
    assert (asked.provided, asked.provided_by_id) == ("TMF index v12, printed.", aud.id)
    assert asked.provided_at is not None
    with pytest.raises(ConflictError, match="answered already"):
        services.provide(asked, aud, "Again")
    db.session.rollback()
    assert queries.requests_of(inspection) == [asked]
    reported(inspection, people)
    step(inspection, "approve_report", quinn, signature=sig())
    with pytest.raises(ConflictError, match="not in progress"):
        services.log_request(inspection, aud, "One more thing")
    db.session.rollback()
    assert queries.requests_of(inspection) == [asked]

"""Demo audits for ``cqms demo`` (hook ``load_demo_data``): an approved programme of the demo
study with an investigator site audit of site 101 done (its report approved; a major finding
answered by a CAPA still in progress, an observation verified and closed) and a vendor audit
planned. Idempotent: a programme of the same title is left alone. Signed steps need the demo
users' passwords; without them it stops before the first signature."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from core import (
    CQMSError,
    SignatureRequest,
    ValidationError,
    attest,
    create_record,
    db,
    transition,
    update_record,
    utcnow,
)
from plugins.audits import queries, services
from plugins.audits.models import AuditProgramme, ChecklistTemplate

REASON = "Demo data loaded with cqms demo"
TITLE = "Audit programme {year}: {study}"


def _signature(users: dict[str, Any], passwords: dict[str, str | None],
               username: str) -> SignatureRequest | None:
    user, password = users.get(username), passwords.get(username)
    if user is None or not password:
        return None
    try:
        attest(user, password)
        db.session.commit()
    except ValidationError:  # attested before
        db.session.rollback()
    return SignatureRequest(password=password, comment=REASON)


def _step(record: Any, name: str, user: Any, **kwargs: Any) -> None:
    transition(record, name, user, **kwargs)
    db.session.commit()


def _edit(record: Any, user: Any, **values: Any) -> None:
    update_record(record, user, expected_version=record.version, reason=REASON, **values)
    db.session.commit()


def _site_audit(audit: Any, users: dict[str, Any], sign: Any, site: Any) -> str:
    auditor, qa, monitor = users["auditor"], users["qa"], users["site_monitor"]
    _edit(audit, auditor, site_id=site.id if site else None,
          scope_text="Consent, delegation, safety reporting and IP storage for subjects "
                     "enrolled to date.",
          criteria="Protocol v4, ICH E6(R3), site SOPs.")
    services.add_member(audit, auditor, monitor, "auditee")
    template = db.session.scalar(select(ChecklistTemplate).where(
        ChecklistTemplate.key == "site_gcp"))
    services.load_checklist(audit, auditor, template)
    db.session.commit()
    _step(audit, "start", auditor)
    answers = queries.answers_of(audit)
    for row in answers[1:]:
        if row.position != 3:
            services.answer(row, auditor, "conforms", "Sampled 5 subjects: as expected.")
    major = services.raise_finding(
        audit, auditor, classification="major", answer_row=answers[0],
        title="Superseded ICF version used for two subjects",
        evidence="Subjects 101-003 and 101-004 signed ICF v3 after v4 was approved.",
        requirement_ref="ICH E6(R3) 2.8.10")
    services.answer(answers[0], auditor, "finding", "ICF v3 still in the consent folder.")
    observation = services.raise_finding(
        audit, auditor, classification="observation", answer_row=answers[2],
        title="Delegation log entries signed late", requirement_ref="Site SOP-DEL-01",
        evidence="Two entries were signed a week after the tasks began.")
    services.answer(answers[2], auditor, "finding", "Two late entries.")
    db.session.commit()
    _step(audit, "finish", auditor)
    _edit(audit, auditor, summary="Consent and delegation need attention; safety reporting "
                                  "and IP storage were in order.",
          conclusions="One major finding, one observation; the site remains suitable.",
          distribution="Principal investigator, sponsor QA, clinical operations lead.")
    approval = sign("qa")
    if approval is None:
        return f"{audit.number} reported (no password: not signed)"
    _step(audit, "approve_report", qa, signature=approval)
    _edit(observation, auditor, response="Delegation log now signed at the site initiation of "
                                         "each task.",
          proposed_actions="Site coordinator checks the log weekly.")
    _step(observation, "respond", auditor)
    _edit(observation, auditor, verification="Log checked at the next visit: all entries "
                                             "signed before the tasks.")
    _step(observation, "verify_and_close", auditor, signature=sign("auditor"))
    if services.capa_available():
        services.raise_capa(major, qa)
        db.session.commit()
    _edit(major, auditor, response="Old ICF copies withdrawn; both subjects re-consented.",
          proposed_actions="See the CAPA raised for this finding.")
    _step(major, "respond", auditor)
    return f"{audit.number} report approved ({major.number} major, open; " \
           f"{observation.number} observation, closed)"


def load(users: dict[str, Any], passwords: dict[str, str | None], study: Any) -> str:
    year = utcnow().year
    title = TITLE.format(year=year, study=study.code)
    if db.session.scalar(select(AuditProgramme.id).where(AuditProgramme.title == title)):
        return "audits: demo programme present"
    auditor, qa = users["auditor"], users["qa"]
    site = next((s for s in study.sites if s.code == "101"), None)
    today = utcnow().date()
    try:
        programme = create_record("audits_programme", auditor, reason=REASON, title=title,
                                  study_id=study.id, period_start=date(year, 1, 1),
                                  period_end=date(year, 12, 31),
                                  scope=f"Sites and vendors of {study.code}.")
        db.session.commit()
        site_row = services.plan_audit(
            programme, auditor, audit_type="investigator_site", auditee="Site 101 Berlin",
            risk="high", rationale="Highest enrolment; a protocol deviation on consent.",
            planned_date=today - timedelta(days=10), lead=auditor)
        vendor_row = services.plan_audit(
            programme, auditor, audit_type="vendor", auditee="EuroLab GmbH (central lab)",
            risk="medium", rationale="New vendor; sample logistics for all sites.",
            planned_date=today + timedelta(days=60), lead=auditor)
        db.session.commit()
        approval = _signature(users, passwords, "qa")
        if approval is None:
            return f"audits: {programme.number} planned (no password: not approved)"
        _step(programme, "approve", qa, signature=approval)
        site_audit = services.schedule(site_row, auditor)
        vendor_audit = services.schedule(vendor_row, auditor)
        db.session.commit()
        done = _site_audit(site_audit, users,
                           lambda name: _signature(users, passwords, name), site)
    except CQMSError as exc:
        db.session.rollback()
        return f"audits: demo stopped: {exc}"
    return f"audits: {programme.number} approved; {done}; {vendor_audit.number} planned"

"""Shared set-up of the audits plugin's tests: people, studies, a small checklist template, and
short-hands that take a programme, an audit or a finding along its workflow (each step
committed, as a request would)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import (
    attest,
    audit_reason,
    create_record,
    db,
    utcnow,
)
from core.audit.models import AuditEntry
from core.notifications.models import Notification
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.testing_records import edit, sig, step  # noqa: F401 - re-exported to the tests
from plugins.audits import queries, services
from plugins.audits.models import ChecklistTemplate, Finding

# username -> role: two auditors who plan and conduct (aud, ada), QA managers who approve
# programmes, reports and justifications (quinn, vic), an auditee (sam, a site monitor) and a
# read-only inspector (ivan).
PEOPLE = (("aud", "auditor"), ("ada", "auditor"), ("quinn", "qa_manager"), ("vic", "qa_manager"),
          ("sam", "site_monitor"), ("ivan", "inspector"))
QUESTIONS = ("Is the current ICF in use? | ICF log\n"
             "\n"
             "Is the delegation log signed before the tasks? | Delegation log\n"
             "Is IP stored within its temperature range?")


def team(make_user):  # type: ignore[no-untyped-def]
    """The people of ``PEOPLE``, attested (ready to sign), by username."""
    people = {name: make_user(name, role) for name, role in PEOPLE}
    for user in people.values():
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return people


def refused(record, name, user, error, *words, **kwargs):  # type: ignore[no-untyped-def]
    """The transition is refused with ``error`` naming every one of ``words``; nothing kept."""
    state = record.state
    with pytest.raises(error) as caught:
        step(record, name, user, **kwargs)
    db.session.rollback()
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert record.state == state
    return caught.value


def today():  # type: ignore[no-untyped-def]
    return utcnow().date()


def in_days(days):  # type: ignore[no-untyped-def]
    return today() + timedelta(days=days)


def new_template(key="mini", version=1, questions=QUESTIONS):  # type: ignore[no-untyped-def]
    """A checklist template of three questions (a blank line between them is skipped); the one
    of this key and version when there is one already."""
    row = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.key == key,
                                                            ChecklistTemplate.version == version))
    if row is not None:
        return row
    row = ChecklistTemplate(key=key, version=version, title=f"Mini checklist {key}",
                            questions=questions)
    with audit_reason("test set-up"):
        db.session.add(row)
        db.session.flush()
    db.session.commit()
    return row


def new_programme(user, title="Audit programme", period=True, **values):  # type: ignore[no-untyped-def]
    if period:
        values = {"period_start": in_days(-30), "period_end": in_days(335), **values}
    programme = create_record("audits_programme", user, title=title,
                              scope=values.pop("scope", "Sites and vendors."), **values)
    db.session.commit()
    return programme


def plan(programme, user, auditee="Site 101 Berlin", days=20, **values):  # type: ignore[no-untyped-def]
    row = services.plan_audit(programme, user, **{
        "audit_type": "investigator_site", "auditee": auditee, "risk": "high",
        "rationale": "Highest enrolment.", "planned_date": in_days(days), **values})
    db.session.commit()
    return row


def new_audit(user, title="Site audit", audit_type="investigator_site", days=10,
              **values):  # type: ignore[no-untyped-def]
    audit = create_record("audits_audit", user, title=title, audit_type=audit_type,
                          auditee=values.pop("auditee", "Site 101 Berlin"),
                          scope_text=values.pop("scope_text", "Consent and delegation."),
                          criteria=values.pop("criteria", "Protocol v4, ICH E6(R3)."),
                          planned_date=in_days(days), **values)
    db.session.commit()
    return audit


def member(audit, planner, person, role):  # type: ignore[no-untyped-def]
    found = services.add_member(audit, planner, person, role)
    db.session.commit()
    return found


def staffed(audit, people, template=None):  # type: ignore[no-untyped-def]
    """aud leads, sam is audited, the checklist loaded (``template`` or a new mini one)."""
    member(audit, people["aud"], people["aud"], "lead")
    member(audit, people["aud"], people["sam"], "auditee")
    services.load_checklist(audit, people["aud"], template or new_template())
    db.session.commit()
    return audit


def started(audit, people, template=None):  # type: ignore[no-untyped-def]
    staffed(audit, people, template)
    return step(audit, "start", people["aud"])


def answer_all(audit, user, value="conforms"):  # type: ignore[no-untyped-def]
    for row in queries.answers_of(audit):
        if not row.answer:
            services.answer(row, user, value, "Seen at the visit.")
    db.session.commit()
    return audit


def raise_one(audit, user, classification="major", title="Old ICF used",
              **kwargs):  # type: ignore[no-untyped-def]
    found = services.raise_finding(audit, user, classification=classification, title=title,
                                   evidence=kwargs.pop("evidence", "Two subjects on ICF v3."),
                                   **kwargs)
    db.session.commit()
    return found


def reported(audit, people):  # type: ignore[no-untyped-def]
    """Every question answered, the fieldwork finished and the report written."""
    answer_all(audit, people["aud"])
    step(audit, "finish", people["aud"])
    return edit(audit, people["aud"], summary="Consent needs attention.",
                conclusions="The site remains suitable.", distribution="PI, sponsor QA.")


def responded(finding, user, actions="Withdraw old ICFs."):  # type: ignore[no-untyped-def]
    edit(finding, user, response="Old copies withdrawn.", proposed_actions=actions)
    return step(finding, "respond", user)


def closed(finding, user):  # type: ignore[no-untyped-def]
    edit(finding, user, verification="Checked at the next visit: v4 only.")
    return step(finding, "verify_and_close", user, signature=sig())


def all_findings():  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Finding).order_by(Finding.id)))


def audit_entries(action, field=None):  # type: ignore[no-untyped-def]
    stmt = select(AuditEntry).where(AuditEntry.action == action)
    if field is not None:
        stmt = stmt.where(AuditEntry.field == field)
    return list(db.session.scalars(stmt.order_by(AuditEntry.id)))


def recipients(kind):  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Notification.recipient_id).where(
        Notification.kind == kind).order_by(Notification.id)))


def studies():  # type: ignore[no-untyped-def]
    """Study S-1 with site 101 (Berlin) and study S-2 with site 201 (Lyon)."""
    with audit_reason("test set-up"):
        one, two = Study(code="S-1", title="Study one"), Study(code="S-2", title="Study two")
        db.session.add_all([one, two])
        db.session.flush()
        berlin = Site(study_id=one.id, code="101", name="Berlin", country="DE")
        lyon = Site(study_id=two.id, code="201", name="Lyon", country="FR")
        db.session.add_all([berlin, lyon])
        db.session.flush()
    db.session.commit()
    return berlin, lyon


def text(response, status=200):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def switch(client, login, username):  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, username)

"""Shared set-up of the CAPA plugin's tests: people, studies, and short-hands that take an event
or a CAPA along its workflow (each step committed, as a request would)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import (
    Task,
    WorkflowError,
    attest,
    audit_reason,
    create_record,
    db,
    link_records,
    utcnow,
)
from core.audit.models import AuditEntry
from core.second_person.service import unverified, verify_field
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD
from core.testing_records import edit, sig, step  # noqa: F401 - re-exported to the tests
from plugins.capa import queries, services
from plugins.capa.models import Capa, QualityEvent

# username -> role: reporter and investigator (ann), action owners (olga, otto), QA people who
# approve, verify and close (quinn, vic), a plain viewer (ivan).
PEOPLE = (("ann", "author"), ("olga", "author"), ("otto", "author"), ("quinn", "qa_manager"),
          ("vic", "qa_manager"), ("ivan", "inspector"))


def team(make_user):  # type: ignore[no-untyped-def]
    """The people of ``PEOPLE``, attested (ready to sign), by username."""
    people = {name: make_user(name, role) for name, role in PEOPLE}
    for user in people.values():
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return people


def verify_critical_data(record, user):  # type: ignore[no-untyped-def]
    """``user`` verifies, as a second person, the critical data of ``record`` waiting for it."""
    for check in unverified(record):
        verify_field(record, check.field, user, expected_version=record.version)
    db.session.commit()


def refused(record, name, user, *words, error=WorkflowError, **kwargs):  # type: ignore[no-untyped-def]
    """Transition ``name`` is refused with ``error`` whose message holds each of ``words``."""
    with pytest.raises(error) as caught:
        step(record, name, user, **kwargs)
    db.session.rollback()
    for word in words:
        assert word in str(caught.value), str(caught.value)
    return caught.value


def today():  # type: ignore[no-untyped-def]
    return utcnow().date()


def in_days(days):  # type: ignore[no-untyped-def]
    return today() + timedelta(days=days)


def new_event(user, title="Consent on an old ICF version", category="deviation",
              **values):  # type: ignore[no-untyped-def]
    event = create_record("capa_event", user, title=title, category=category,
                          description=values.pop("description", "What happened."), **values)
    db.session.commit()
    return event


def new_capa(user, event=None, title="Stop old forms being used", category="deviation",
             **values):  # type: ignore[no-untyped-def]
    """A CAPA (addressing ``event`` when given)."""
    capa = create_record("capa_capa", user, title=title, category=category,
                         problem_statement=values.pop("problem_statement", "Old forms in use."),
                         **values)
    if event is not None:
        link_records(capa, event, queries.ADDRESSES, user, reason="test")
    db.session.commit()
    return capa


INVESTIGATION = {"similar_review": "none", "rca_method": "five_whys",
                 "root_cause_key": "procedure_unclear",
                 "root_cause": "No step withdraws superseded forms."}


def investigated(event, user, capa_needed="yes", **values):  # type: ignore[no-untyped-def]
    """Contained, investigated and the investigation signed by ``user``."""
    edit(event, user, containment="Re-consented at once.")
    step(event, "contain", user)
    step(event, "investigate", user)
    edit(event, user, **{**INVESTIGATION, "capa_needed": capa_needed, **values})
    return step(event, "complete_investigation", user, signature=sig())


def action(capa, user, owner, days=14, kind="corrective", text="Add a withdrawal step"):  # type: ignore[no-untyped-def]
    found = services.add_action(capa, user, kind=kind, description=text, owner=owner,
                                due_date=in_days(days))
    db.session.commit()
    return found


def impact_verified(capa, user, *owners, days=14):  # type: ignore[no-untyped-def]
    """Actions planned (one per owner), the impact assessed and verified by ``user``."""
    for n, owner in enumerate(owners, 1):
        action(capa, user, owner, days=days, text=f"Action {n} of {owner.username}")
    edit(capa, user, impact_assessment="No effect on subject safety.")
    return step(capa, "verify_impact", user, signature=sig())


def complete_all(capa):  # type: ignore[no-untyped-def]
    for found in queries.actions_of(capa):
        if found.completed_at is None:
            services.complete_action(found, found.owner, evidence="Done: see the file note.")
            db.session.commit()
    return capa


def in_check(capa, people, owner=None):  # type: ignore[no-untyped-def]
    """Planned by ann (action of ``owner``, default olga), approved by quinn, actions completed,
    the check planned and started."""
    impact_verified(capa, people["ann"], owner or people["olga"])
    step(capa, "approve_plan", people["quinn"], signature=sig())
    complete_all(capa)
    edit(capa, people["ann"], check_criteria="No old form at 3 visits.",
         check_due_date=capa.due_date + timedelta(days=30))
    return step(capa, "start_check", people["ann"])


def effective(capa, people, owner=None):  # type: ignore[no-untyped-def]
    in_check(capa, people, owner)
    edit(capa, people["ann"], check_result="No old form found at 3 visits.")
    return step(capa, "confirm_effective", people["vic"], signature=sig())


def tasks(record, kind=None, state=None):  # type: ignore[no-untyped-def]
    stmt = select(Task).where(Task.record_id == record.id)
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    if state is not None:
        stmt = stmt.where(Task.state == state)
    return list(db.session.scalars(stmt.order_by(Task.id)))


def audit_events(record, action):  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == record.audit_entity_type,
        AuditEntry.entity_id == str(record.id), AuditEntry.action == action)))


def all_capas():  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Capa).order_by(Capa.id)))


def all_events():  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(QualityEvent).order_by(QualityEvent.id)))


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

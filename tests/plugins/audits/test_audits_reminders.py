"""Reminder sweeps of the audits plugin: an audit past its planned date and not started notifies
its lead auditor, an overdue finding response and a verification due the finding's owner, each
once per due date however often the sweeps run."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from audits_helpers import (
    edit,
    in_days,
    member,
    new_audit,
    raise_one,
    recipients,
    responded,
    sig,
    started,
    step,
    team,
)
from sqlalchemy import select

from core import audit_reason, db
from core.notifications.models import Notification
from core.notifications.reminders import run_reminders
from core.settings import set_setting

pytestmark = pytest.mark.plugins("audits")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def at(day):  # type: ignore[no-untyped-def]
    """Noon UTC of ``day``: when a sweep runs."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def sweep(day, times=2):  # type: ignore[no-untyped-def]
    """Run every sweep ``times`` over as on ``day``; no sweep may fail."""
    for _ in range(times):
        results = run_reminders(at(day))
        assert not [r for r in results if r.error], results
    return {r.key: r for r in results}


def dues(kind):  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Notification.due).where(
        Notification.kind == kind).order_by(Notification.id)))


def test_an_audit_past_its_planned_date_notifies_its_lead_once(people):
    aud, ada = people["aud"], people["ada"]
    led = new_audit(aud, title="Led by Ada", days=2)
    member(led, aud, ada, "lead")
    unled = new_audit(aud, title="No lead yet", days=2)
    begun = started(new_audit(aud, title="Started on time", days=2), people)
    cancelled = new_audit(aud, title="Cancelled", days=2)
    step(cancelled, "cancel", people["quinn"], reason="Site closed")
    sweep(in_days(2))
    assert recipients("audits.audit_due") == []  # due today: not past it
    results = sweep(in_days(3))
    sweep(in_days(9))
    assert recipients("audits.audit_due") == [ada.id, aud.id]  # the lead; else the owner
    assert dues("audits.audit_due") == [in_days(2), in_days(2)]
    assert db.session.scalars(select(Notification.record_id).where(
        Notification.kind == "audits.audit_due")).all() == [led.id, unled.id]
    assert results["audits.due"].queued == 0  # the second run of that day queued nothing
    assert begun.state == "in_progress" and cancelled.state == "cancelled"


def test_an_overdue_response_notifies_the_findings_owner_once(people):
    aud, ada = people["aud"], people["ada"]
    audit = started(new_audit(aud), people)
    late = raise_one(audit, ada, title="Answered late")
    answered = responded(raise_one(audit, aud, title="Answered in time"), aud)
    assert late.response_due == in_days(30)
    sweep(in_days(30))
    assert recipients("audits.response_overdue") == []
    sweep(in_days(31))
    sweep(in_days(45))
    assert recipients("audits.response_overdue") == [ada.id]
    assert dues("audits.response_overdue") == [in_days(30)]
    assert answered.state == "responded"


def test_a_verification_due_notifies_the_findings_owner_once(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    with audit_reason("test: setting"):
        set_setting("audits.verification_days", 20)
    db.session.commit()
    found = responded(raise_one(audit, aud), aud)
    assert found.verification_due == in_days(20)
    sweep(in_days(19))
    assert recipients("audits.verification_due") == []
    sweep(in_days(21))
    sweep(in_days(40))
    assert recipients("audits.verification_due") == [aud.id]
    assert dues("audits.verification_due") == [in_days(20)]
    edit(found, aud, verification="Checked.")
    step(found, "verify_and_close", aud, signature=sig())
    sweep(in_days(80))
    assert len(recipients("audits.verification_due")) == 1


def test_a_verification_is_due_from_the_response_not_the_last_edit(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    found = responded(raise_one(audit, aud), aud)
    assert found.responded_at is not None
    sweep(in_days(31))
    assert dues("audits.verification_due") == [in_days(30)]
    edit(found, aud, verification="Draft: checked 3 of 5 subjects so far.")  # still responded
    sweep(in_days(45))
    assert dues("audits.verification_due") == [in_days(30)]  # the same verification, once

"""Attributed corrections of closed, signed records (ICH E6(R3) 4.2.4, E6-18), used by the CAPA
plugin's quality event: a closed event is re-opened for correction with a reason, the entry
links to the version and signatures corrected, the changes keep their old values on the trail,
and the event closes again only through a signed re-approval."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import kernel_plugin
import pytest
from sqlalchemy import select

from core import (
    PermissionDenied,
    SignatureRequest,
    Transition,
    ValidationError,
    WorkflowError,
    attest,
    create_record,
    signatures_of,
    transition,
    update_record,
    utcnow,
    verify_field,
)
from core.audit.models import AuditEntry
from core.corrections import OPENED, check_corrections
from core.db import db
from core.errors import StartupError
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.testing_api import ApiCaller, ok, problem

pytestmark = [pytest.mark.plugins("capa"), pytest.mark.backends("sqlite", "postgresql")]
SIGNED = SignatureRequest(password=DEFAULT_PASSWORD)


@pytest.fixture
def people(app, make_user, system_actor):
    found = {name: make_user(name, role, full_name=f"{name.title()} Tester") for name, role in (
        ("ann", "author"), ("quinn", "qa_manager"), ("vic", "qa_manager"))}
    for name in ("quinn", "vic"):
        attest(found[name], DEFAULT_PASSWORD)
    db.session.commit()
    return found


@pytest.fixture
def closed(people):
    """An incident reported by ann, verified by vic and closed after containment by quinn."""
    ann, quinn, vic = people["ann"], people["quinn"], people["vic"]
    event = create_record("capa_event", ann, title="eTMF down for two hours",
                          category="system_incident", description="Certificate expired.",
                          severity="minor", occurred_on=utcnow().date() - timedelta(days=3))
    db.session.commit()
    update_record(event, ann, expected_version=event.version, reason="containment",
                  containment="Certificate renewed.", similar_review="none in 12 months")
    transition(event, "contain", ann)
    for name in ("severity", "occurred_on"):
        verify_field(event, name, vic, expected_version=event.version)
    transition(event, "close_after_containment", quinn, reason="Contained", signature=SIGNED)
    db.session.commit()
    return event


def _opened(event):  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == OPENED, AuditEntry.entity_id == str(event.id))))


@pytest.mark.req("E6-18")
def test_a_closed_event_is_corrected_with_a_reason_linked_to_what_it_corrects(people, closed):
    ann, quinn = people["ann"], people["quinn"]
    [original] = signatures_of(closed)
    version = closed.version
    with pytest.raises(ValidationError, match="a closed event changes only through a correction"):
        update_record(closed, quinn, expected_version=closed.version, reason="typo",
                      severity="major")
    db.session.rollback()
    with pytest.raises(ValidationError, match="reason"):
        transition(closed, "correct", quinn)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        transition(closed, "correct", ann, reason="wrong severity")
    db.session.rollback()
    assert _opened(closed) == []

    transition(closed, "correct", quinn, reason="Severity was misclassified")
    db.session.commit()
    assert closed.state == "correcting"
    [entry] = _opened(closed)
    assert (entry.actor_id, entry.reason, entry.field, entry.entity_version) == (
        quinn.id, "Severity was misclassified", "correct", version)
    carried = json.loads(entry.old_value)
    assert (carried["version"], carried["state"]) == (version, "closed")
    assert carried["content"]["severity"] == "minor"
    assert carried["content_hash"] == original.content_hash == closed.content_hash
    assert [(s["id"], s["meaning"], s["signer"], s["valid"]) for s in carried["signatures"]] == [
        (original.id, "approved", "quinn", True)]
    assert f"signature #{original.id}" in entry.new_value and "Approved by" in entry.new_value


@pytest.mark.req("E6-18")
def test_a_correction_keeps_the_old_values_and_closes_only_on_a_signed_re_approval(
        people, closed):
    ann, quinn, vic = people["ann"], people["quinn"], people["vic"]
    [original] = signatures_of(closed)
    transition(closed, "correct", quinn, reason="Severity was misclassified")
    db.session.commit()
    with pytest.raises(ValidationError, match="reason"):
        update_record(closed, quinn, expected_version=closed.version, severity="major")
    db.session.rollback()
    update_record(closed, quinn, expected_version=closed.version,
                  reason="Two sites affected: major", severity="major")
    db.session.commit()
    change = db.session.scalar(select(AuditEntry).where(
        AuditEntry.entity_id == str(closed.id), AuditEntry.action == "update",
        AuditEntry.field == "severity"))
    assert (change.old_value, change.new_value, change.reason, change.actor_id) == (
        "minor", "major", "Two sites affected: major", quinn.id)
    db.session.refresh(original)
    assert not original.valid  # the approval no longer covers what the event says

    with pytest.raises(WorkflowError, match="Severity must be verified by a second person"):
        transition(closed, "approve_correction", vic, signature=SIGNED)
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # quinn changed it: a second person verifies
        verify_field(closed, "severity", quinn, expected_version=closed.version)
    db.session.rollback()
    verify_field(closed, "severity", vic, expected_version=closed.version)
    db.session.commit()
    with pytest.raises(ValidationError, match="signature"):  # re-approval is signed
        transition(closed, "approve_correction", vic)
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # the reporter does not approve it
        transition(closed, "approve_correction", ann, signature=SIGNED)
    db.session.rollback()
    transition(closed, "approve_correction", vic, signature=SIGNED)
    db.session.commit()
    assert closed.state == "closed"
    first, again = signatures_of(closed)
    assert (first.id, first.valid) == (original.id, False)
    assert (again.transition, again.signer_id, again.valid) == ("approve_correction", vic.id, True)
    assert again.content_hash == closed.content_hash != first.content_hash


@pytest.mark.req("E6-18")
def test_the_record_page_offers_the_correction_with_its_reason(people, closed, client, login):
    login(client, "quinn")
    url = f"/admin/capa_event/details/?id={closed.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Correct (re-open with a reason)" in page and 'id="correct-reason"' in page
    step = f"/admin/capa_event/{closed.id}/transition/correct"
    refused = client.post(step, data={"csrf_token": csrf_token(client, "/admin/")},
                          follow_redirects=True).get_data(as_text=True)
    assert "A reason is required" in refused and _opened(closed) == []
    done = client.post(step, data={"csrf_token": csrf_token(client, "/admin/"),
                                   "reason": "Occurred on was wrong"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Correcting" in done and "re-opened for correction" in done
    assert [e.reason for e in _opened(closed)] == ["Occurred on was wrong"]


@pytest.mark.req("E6-18")
def test_the_api_corrects_with_a_reason_only(people, closed, client):
    quinn, ann = ApiCaller(client, "quinn"), ApiCaller(client, "ann")
    url = f"/records/capa_event/{closed.id}/transitions/correct"
    problem(quinn.post(url, json={}), 422, "reason")
    problem(ann.post(url, json={"reason": "wrong date"}), 403)
    assert _opened(closed) == []
    body = ok(quinn.post(url, json={"reason": "Occurred on was wrong"}))
    assert body["state"] == "correcting"
    [entry] = _opened(closed)
    assert (entry.actor_id, entry.reason) == (people["quinn"].id, "Occurred on was wrong")


@pytest.mark.backends("sqlite")
def test_correction_steps_are_checked_at_start_up(app):
    registry = app.extensions["cqms"].registry
    rt, workflow = registry.record_types["capa_event"], registry.workflows["capa_event"]
    check_corrections("capa", rt, workflow)

    def with_steps(*steps: Transition) -> None:
        kept = tuple(t for t in workflow.transitions
                     if t.name not in {s.name for s in steps})
        check_corrections("capa", rt, replace(workflow, transitions=(*kept, *steps)))

    correct = workflow.transition("correct")
    approve = workflow.transition("approve_correction")
    for steps, message in (
            ((replace(correct, reason_required=False),), "must require a reason"),
            ((replace(correct, source=("contained",)),), "from closed states only"),
            ((replace(correct, target="cancelled"),), "open state that is not frozen"),
            ((replace(approve, signature=None),), "close again through a signed step"),
            ((replace(approve, source=("investigated",)),), "no closing step")):
        with pytest.raises(StartupError, match=message):
            with_steps(*steps)
    with pytest.raises(StartupError, match="not frozen"):
        check_corrections("capa", replace(rt, frozen_states=("closed", "correcting")), workflow)


@pytest.mark.backends("sqlite")
def test_a_plugin_declaring_a_correction_without_a_reason_does_not_start(
        app_factory, temp_plugin, monkeypatch):
    unjustified = Transition("correct", ("retired",), "in_review", "acme.edit", correction=True)
    workflow = kernel_plugin.WORKFLOW
    monkeypatch.setattr(kernel_plugin, "WORKFLOW", replace(
        workflow, transitions=(*workflow.transitions, unjustified)))
    plugin = kernel_plugin.make_plugin(temp_plugin)
    with pytest.raises(StartupError, match="correction 'correct' must require a reason"):
        app_factory(plugins=["acme"], extra_plugins={"acme": plugin})

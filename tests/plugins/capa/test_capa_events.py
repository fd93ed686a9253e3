"""Quality events: containment before any investigation, similar events, the investigation's
required parts, significant and serious events (CAPA, signed adequacy, notification task),
field validation, raising events and CAPAs from another plugin's record (hook
``capa_raise_for``) and the categories the plugin seeds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from capa_helpers import (
    INVESTIGATION,
    all_events,
    edit,
    effective,
    investigated,
    new_capa,
    new_event,
    refused,
    sig,
    step,
    studies,
    tasks,
    team,
    today,
    verify_critical_data,
)

from core import (
    ConflictError,
    PermissionDenied,
    ValidationError,
    audit_reason,
    call_hook,
    db,
    linked,
    signatures_of,
)
from plugins.capa import queries, services
from plugins.capa.models import Capa, EventCategory, QualityEvent
from plugins.capa.reactions import NOTIFY_TASK

pytestmark = pytest.mark.plugins("capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


# -- containment, similar events, the investigation ---------------------------------------------


@pytest.mark.req("ISO-15")
def test_containment_is_recorded_before_any_investigation(people):
    ann = people["ann"]
    event = new_event(ann)
    assert (event.state, event.contained_at) == ("reported", None)
    refused(event, "contain", ann, "containment")
    assert event.state == "reported"
    edit(event, ann, containment="Both subjects re-consented on version 4.")
    step(event, "contain", ann)
    assert event.state == "contained" and event.contained_at is not None
    assert (event.rca_method, event.root_cause) == ("", "")  # nothing investigated yet
    step(event, "investigate", ann)
    refused(event, "contain", ann, "investigating")  # containment comes first, not later


@pytest.mark.req("ISO-16")
def test_a_new_event_lists_the_earlier_events_of_its_category(people):
    ann = people["ann"]
    first = new_event(ann, title="First deviation")
    assert first.similar_found == "none found"
    second = new_event(ann, title="Second deviation")
    assert second.similar_found == first.number
    third = new_event(ann, title="Third deviation")
    assert third.similar_found == f"{second.number}, {first.number}"  # newest first
    complaint = new_event(ann, title="A complaint", category="complaint")
    assert complaint.similar_found == "none found"
    with pytest.raises(ValidationError, match="similar_found"):  # the server's, not a user's
        edit(complaint, ann, similar_found="none")
    db.session.rollback()


@pytest.mark.req("ISO-16")
def test_the_investigation_needs_review_method_root_cause_and_a_capa_decision(people):
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann)
    edit(event, ann, containment="Stopped at once.")
    step(event, "contain", ann)
    step(event, "investigate", ann)
    services.add_analysis_line(event, ann, "Why 1", "The old stock was used.")
    db.session.commit()
    error = refused(event, "complete_investigation", ann, signature=sig())
    assert len(error.reasons) == 4, error.reasons
    for words in ("similar events", "root-cause method", "root cause (category",
                  "decide whether a CAPA"):
        assert any(words in reason for reason in error.reasons), (words, error.reasons)
    edit(event, ann, **INVESTIGATION, capa_needed="no")
    refused(event, "complete_investigation", ann, "why no CAPA", signature=sig())
    edit(event, ann, no_capa_rationale="One-off, contained; no systemic cause.")
    refused(event, "complete_investigation", ann, "signature", error=ValidationError)
    step(event, "complete_investigation", ann, signature=sig())
    [signed] = signatures_of(event)
    assert (signed.meaning, signed.signer_id) == ("responsible", ann.id)
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close", quinn, signature=sig())  # no CAPA needed: it closes without one
    assert event.state == "closed"
    with pytest.raises(ConflictError, match="analysis lines are added while"):
        services.add_analysis_line(event, ann, "Why 2", "Too late.")
    assert [line.part for line in queries.analysis_of(event)] == ["Why 1"]


def test_close_after_containment_needs_a_reason_a_similar_review_and_another_person(people):
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann, category="system_incident")
    edit(event, ann, containment="Certificate renewed.")
    step(event, "contain", ann)
    refused(event, "close_after_containment", quinn, "similar events", signature=sig(),
            reason="Contained")
    edit(event, ann, similar_review="none in 12 months")
    refused(event, "close_after_containment", ann, "capa.close", error=PermissionDenied,
            signature=sig(), reason="Contained")  # an author does not close
    verify_critical_data(event, quinn)  # a second person (A11-05)
    refused(event, "close_after_containment", quinn, "reason", error=ValidationError,
            signature=sig())
    step(event, "close_after_containment", quinn, signature=sig(), reason="Contained")
    assert event.state == "closed"
    assert [s.meaning for s in signatures_of(event)] == ["approved"]


# -- significant and serious events (ICH E6(R3) 3.12.2) -----------------------------------------


@pytest.mark.req("E6-09")
def test_a_significant_event_needs_a_live_capa_and_a_signed_adequacy_confirmation(people):
    ann, quinn, vic = people["ann"], people["quinn"], people["vic"]
    event = new_event(vic, significant=True)  # reported by a QA manager, who may close events
    edit(event, ann, containment="Re-consented.", similar_review="none")
    step(event, "contain", ann)
    refused(event, "close_after_containment", quinn, "significant event", signature=sig(),
            reason="Contained")
    step(event, "investigate", ann)
    edit(event, ann, **INVESTIGATION, capa_needed="no", no_capa_rationale="One-off.")
    refused(event, "complete_investigation", ann, "significant event needs a CAPA",
            signature=sig())
    edit(event, ann, capa_needed="yes")
    step(event, "complete_investigation", ann, signature=sig())
    refused(event, "close", quinn, f"raise a CAPA addressing {event.number}", signature=sig())
    cancelled = new_capa(ann, event)
    step(cancelled, "cancel", quinn, reason="Raised twice")
    refused(event, "close", quinn, "raise a CAPA", signature=sig())  # a cancelled one is no fix
    live = new_capa(ann, event)
    assert queries.capas_for(event) == [live]
    refused(event, "close", vic, "separation of duties", "created", signature=sig())
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close", quinn, signature=sig())
    closing = signatures_of(event)[-1]
    assert (closing.meaning, closing.signer_id, closing.transition) == (
        "adequacy_confirmed", quinn.id, "close")


@pytest.mark.req("E6-09")
def test_a_serious_event_opens_a_notification_task_and_closes_only_once_notified(people):
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann, serious=True, category="gcp_noncompliance")
    [task] = tasks(event, NOTIFY_TASK)
    assert (task.state, task.role.key) == ("open", "qa_manager")
    assert task.due == event.reported_at.date() + timedelta(days=7)
    investigated(event, ann, capa_needed="no", no_capa_rationale="Isolated, contained.")
    refused(event, "close", quinn, "serious event needs the notification", signature=sig())
    edit(event, quinn, notification="IEC notified 2026-01-05, ref IEC-77.")
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close", quinn, signature=sig())
    assert [t.state for t in tasks(event, NOTIFY_TASK)] == ["done"]


@pytest.mark.req("E6-09")
def test_a_serious_event_closed_after_containment_needs_the_notification_settled(people):
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann, serious=True)
    edit(event, ann, containment="Stopped.", similar_review="none")
    step(event, "contain", ann)
    refused(event, "close_after_containment", quinn, "notification", signature=sig(),
            reason="Contained")
    edit(event, quinn, no_notification_rationale="Not a serious breach after review.")
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close_after_containment", quinn, signature=sig(), reason="Contained")
    assert event.state == "closed"
    assert [t.state for t in tasks(event, NOTIFY_TASK)] == ["done"]
    plain = new_event(ann, title="Not serious")
    assert tasks(plain, NOTIFY_TASK) == []


# -- validation ----------------------------------------------------------------------------------


BAD_EVENTS = (
    ({"category": "nonsense"}, "category"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"process_area": "kitchen"}, "process_area"),
    ({"category": "protocol_deviation"}, "importance"),  # a protocol deviation needs it
    ({"importance": "important"}, "importance"),  # only a protocol deviation has it
    ({"category": "protocol_deviation", "importance": "huge"}, "importance"),
    ({"occurred_on": today() + timedelta(days=1)}, "occurred_on"),
    ({"similar_found": "QE-2026-0009"}, "similar_found"),  # the server's field
)


def test_bad_event_values_are_refused_naming_the_field(people):
    for values, field in BAD_EVENTS:
        with pytest.raises(ValidationError) as caught:
            new_event(people["ann"], **{"category": "deviation", **values})
        db.session.rollback()
        assert field in caught.value.errors, (values, caught.value.errors)
    assert all_events() == []
    good = new_event(people["ann"], category="protocol_deviation", importance="important")
    assert (good.importance, good.severity) == ("important", "minor")


def test_bad_changes_of_events_and_capas_are_refused_naming_the_field(people):
    ann = people["ann"]
    event = new_event(ann, category="protocol_deviation", importance="not_important")
    for values, field in (({"importance": ""}, "importance"), ({"rca_method": "guess"},
                                                               "rca_method"),
                          ({"root_cause_key": "bad_luck"}, "root_cause_key"),
                          ({"capa_needed": "maybe"}, "capa_needed")):
        with pytest.raises(ValidationError) as caught:
            edit(event, ann, **values)
        db.session.rollback()
        assert field in caught.value.errors, (values, caught.value.errors)
    capa = new_capa(ann, category="complaint")
    for values, field in (({"priority": "urgent"}, "priority"), ({"category": "x"}, "category"),
                          ({"check_due_date": today() - timedelta(days=1)},
                           "check_due_date")):
        with pytest.raises(ValidationError) as caught:
            edit(capa, ann, **values)
        db.session.rollback()
        assert field in caught.value.errors, (values, caught.value.errors)


def test_a_retired_category_is_no_longer_offered(people):
    with audit_reason("test: retired"):
        db.session.query(EventCategory).filter_by(key="complaint").one().active = False
        db.session.flush()
    db.session.commit()
    assert "complaint" not in dict(queries.category_choices())
    with pytest.raises(ValidationError) as caught:
        new_event(people["ann"], category="complaint")
    db.session.rollback()
    assert "category" in caught.value.errors


# -- raising from another plugin's record --------------------------------------------------------


def test_the_hook_raises_an_event_or_a_capa_for_another_record(people):
    ann = people["ann"]
    berlin, _lyon = studies()
    source = new_event(ann, title="Stands in for an audit finding", study_id=berlin.study_id,
                       site_id=berlin.id)
    event = call_hook("capa_raise_for", record=source, category="audit_finding", user=ann,
                      title="Finding 3: ICF versions", description="Old ICF in use.",
                      significant=False, what="event")
    db.session.commit()
    assert isinstance(event, QualityEvent) and event.state == "reported"
    assert (event.category, event.site_id, event.study_id) == (
        "audit_finding", berlin.id, berlin.study_id)
    assert linked(event, queries.RAISED_FROM, direction="out") == [source]
    capa = call_hook("capa_raise_for", record=source, category="audit_finding", user=ann,
                     title="CAPA for finding 3", description="Old ICF in use.",
                     significant=False, what="capa")
    db.session.commit()
    assert isinstance(capa, Capa) and capa.problem_statement == "Old ICF in use."
    assert queries.addressed_by(capa) == [source] and capa.site_id == berlin.id
    with pytest.raises(ValidationError) as caught:
        call_hook("capa_raise_for", record=source, category="audit_finding", user=ann,
                  title="x", description="y", significant=False, what="risk")
    assert "what" in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        call_hook("capa_raise_for", record=source, category="nonsense", user=ann,
                  title="x", description="y", significant=False, what="event")
    db.session.rollback()
    assert "category" in caught.value.errors


# -- the categories the plugin seeds (ISO-21, A11-14, E6-23) ------------------------------------


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-21", "A11-14", "E6-23")
@pytest.mark.parametrize("key", ["potential_issue", "system_incident", "system_issue"])
def test_seeded_categories_follow_the_same_chain(people, key):
    found = queries.category(key)
    assert found is not None and found.active, key
    assert found.check_required is (key != "system_issue")
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann, title=f"A {key}", category=key)
    investigated(event, ann)
    capa = new_capa(ann, event, category=key)
    effective(capa, people)
    step(capa, "close", quinn, signature=sig())
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close", quinn, signature=sig())
    assert (event.state, capa.state) == ("closed", "closed")

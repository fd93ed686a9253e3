"""Second-person verification of critical data (Annex 11 §6, A11-05; the "verify" action on the
audit trail, A11-13), used by the CAPA plugin's quality event: when it occurred and how severe it
is must be verified by a second person before the event closes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select

from core import (
    ConflictError,
    PermissionDenied,
    RecordType,
    SignatureRequest,
    ValidationError,
    WorkflowError,
    attest,
    create_record,
    critical_field_checks,
    transition,
    update_record,
    utcnow,
    verify_field,
)
from core.audit.models import AuditEntry
from core.db import db
from core.errors import StartupError
from core.second_person.service import VERIFIED, check_declaration
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.testing_api import ApiCaller, ok, problem
from plugins.capa.models import QualityEvent

pytestmark = [pytest.mark.plugins("capa"), pytest.mark.backends("sqlite", "postgresql")]
BLOCKED = "must be verified by a second person"


@pytest.fixture
def people(app, make_user, system_actor):
    found = {name: make_user(name, role, full_name=f"{name.title()} Tester") for name, role in (
        ("ann", "author"), ("quinn", "qa_manager"), ("vic", "qa_manager"), ("ivan", "inspector"))}
    for name in ("quinn", "vic"):
        attest(found[name], DEFAULT_PASSWORD)
    db.session.commit()
    return found


def _event(ann):  # type: ignore[no-untyped-def]
    """A contained, non-significant incident reported by ann: ready to close after containment
    but for its critical data."""
    event = create_record("capa_event", ann, title="eTMF down for two hours",
                          category="system_incident", description="Certificate expired.",
                          severity="major", occurred_on=utcnow().date() - timedelta(days=3))
    db.session.commit()
    update_record(event, ann, expected_version=event.version, reason="containment",
                  containment="Certificate renewed.", similar_review="none in 12 months")
    transition(event, "contain", ann)
    db.session.commit()
    return event


def _close(event, user):  # type: ignore[no-untyped-def]
    transition(event, "close_after_containment", user, reason="Contained",
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()


def _waiting(event):  # type: ignore[no-untyped-def]
    return [c.field for c in critical_field_checks(event) if c.needs_verification]


def _verified_entries(event):  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == VERIFIED, AuditEntry.entity_id == str(event.id))
        .order_by(AuditEntry.id)))


@pytest.mark.req("A11-05")
def test_an_event_closes_only_once_a_second_person_verified_its_critical_data(people):
    ann, quinn = people["ann"], people["quinn"]
    event = _event(ann)
    assert _waiting(event) == ["occurred_on", "severity"]
    with pytest.raises(WorkflowError) as refused:
        _close(event, quinn)
    db.session.rollback()
    assert refused.value.reasons[-2:] == [f"Occurred on {BLOCKED}.", f"Severity {BLOCKED}."]
    assert event.state == "contained"

    with pytest.raises(PermissionDenied, match="You created"):  # the author never verifies
        verify_field(event, "severity", ann, expected_version=event.version)
    db.session.rollback()
    verify_field(event, "severity", quinn, expected_version=event.version)
    db.session.commit()
    with pytest.raises(WorkflowError, match=f"Occurred on {BLOCKED}"):
        _close(event, quinn)  # one field verified is not enough
    db.session.rollback()
    verify_field(event, "occurred_on", quinn, expected_version=event.version)
    db.session.commit()
    _close(event, quinn)
    assert event.state == "closed"


@pytest.mark.req("A11-05")
def test_who_last_changed_a_field_cannot_verify_it_and_a_change_voids_the_verification(people):
    ann, quinn, vic, ivan = people["ann"], people["quinn"], people["vic"], people["ivan"]
    event = _event(ann)
    update_record(event, vic, expected_version=event.version, reason="classified by QA",
                  severity="critical")
    db.session.commit()
    with pytest.raises(PermissionDenied, match="You entered the current \u201cSeverity\u201d"):
        verify_field(event, "severity", vic, expected_version=event.version)
    db.session.rollback()
    verify_field(event, "occurred_on", vic, expected_version=event.version)  # ann entered it
    db.session.commit()
    with pytest.raises(PermissionDenied, match="capa.create is required"):
        verify_field(event, "severity", ivan, expected_version=event.version)
    db.session.rollback()
    with pytest.raises(ConflictError, match="changed since you read it"):
        verify_field(event, "severity", quinn, expected_version=event.version - 1)
    db.session.rollback()
    verify_field(event, "severity", quinn, expected_version=event.version)
    db.session.commit()
    assert _waiting(event) == []
    with pytest.raises(ValidationError, match="nothing to verify") as again:
        verify_field(event, "severity", vic, expected_version=event.version)
    assert list(again.value.errors) == ["field"]
    db.session.rollback()
    with pytest.raises(ValidationError, match="not critical data"):
        verify_field(event, "description", vic, expected_version=event.version)
    db.session.rollback()

    update_record(event, ann, expected_version=event.version, reason="typo",
                  severity="major")  # the change voids quinn's verification
    db.session.commit()
    assert _waiting(event) == ["severity"]
    with pytest.raises(WorkflowError, match=f"Severity {BLOCKED}"):
        _close(event, quinn)
    db.session.rollback()
    update_record(event, ann, expected_version=event.version, reason="note",
                  description="Certificate expired at 09:10 UTC.")  # not critical: no effect
    db.session.commit()
    assert _waiting(event) == ["severity"]
    verify_field(event, "severity", vic, expected_version=event.version)
    db.session.commit()
    _close(event, quinn)
    assert event.state == "closed"


@pytest.mark.req("A11-13", "A11-05")
def test_a_verification_is_on_the_audit_trail_naming_the_verifier_and_utc_time(people):
    ann, quinn = people["ann"], people["quinn"]
    event = _event(ann)
    before = datetime.now(UTC)
    verify_field(event, "severity", quinn, expected_version=event.version)
    db.session.commit()
    [entry] = _verified_entries(event)
    assert (entry.actor_id, entry.actor_name, entry.field, entry.new_value) == (
        quinn.id, quinn.printed_name, "severity", "Severity: Major")
    assert entry.entity_version == event.version and entry.entity_type == "capa_event"
    assert entry.at.utcoffset() == timedelta(0) and before - timedelta(seconds=5) <= entry.at
    [check] = [c for c in critical_field_checks(event) if c.field == "severity"]
    assert (check.verified_by, check.verified_at, check.changed_by) == (
        quinn.printed_name, entry.at, ann.printed_name)


def _row(page, field):  # type: ignore[no-untyped-def]
    """The critical data table's row of ``field`` on a record page."""
    return re.search(rf'<tr id="critical-{field}">(.*?)</tr>', page, re.S).group(1)


def _page(client, event):  # type: ignore[no-untyped-def]
    return client.get(f"/admin/capa_event/details/?id={event.id}").get_data(as_text=True)


@pytest.mark.req("A11-05")
def test_the_record_page_says_what_waits_and_offers_the_second_person_the_button(
        people, client, login):
    event = _event(people["ann"])
    url = f"/records/{event.id}/verify-field"
    login(client, "ann")
    page = _page(client, event)
    assert 'id="verify-severity"' not in page  # the author is offered no verification
    refused = client.post(url, data={"csrf_token": csrf_token(client, "/admin/"),
                                     "field": "severity", "expected_version": event.version},
                          follow_redirects=True).get_data(as_text=True)
    assert "Not verified: You created" in refused and _verified_entries(event) == []
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})

    login(client, "quinn")
    page = _page(client, event)
    assert f"Not yet: Occurred on {BLOCKED}. Severity {BLOCKED}." in page
    assert 'id="verify-severity"' in page and 'id="verify-occurred_on"' in page
    assert "not yet verified" in _row(page, "severity") and "Ann Tester" in _row(page, "severity")
    assert client.post(url, data={"field": "severity", "expected_version": event.version}
                       ).status_code == 400  # no CSRF token: refused, nothing written
    assert _verified_entries(event) == []
    done = client.post(url, data={"csrf_token": csrf_token(client, "/admin/"),
                                  "field": "severity", "expected_version": event.version},
                       follow_redirects=True).get_data(as_text=True)
    assert "you verified \u201cSeverity\u201d" in done
    assert 'id="verify-severity"' not in done and f"Severity {BLOCKED}" not in done
    assert "Verified by a second person" in done  # in the record's history
    assert "Quinn Tester" in _row(done, "severity") and "not yet" not in _row(done, "severity")
    assert "not yet verified" in _row(done, "occurred_on")
    assert [e.actor_id for e in _verified_entries(event)] == [people["quinn"].id]
    stale = client.post(url, data={"csrf_token": csrf_token(client, "/admin/"),
                                   "field": "occurred_on", "expected_version": event.version - 1},
                        follow_redirects=True).get_data(as_text=True)
    assert "Not verified:" in stale and "changed since you read it" in stale
    assert client.post(f"/records/{event.id + 10_000}/verify-field", data={
        "csrf_token": csrf_token(client, "/admin/"), "field": "severity",
        "expected_version": 1}).status_code == 404


@pytest.mark.req("A11-05")
def test_the_api_lists_the_critical_data_and_a_second_person_verifies_it(people, client):
    event = _event(people["ann"])
    url = f"/records/capa_event/{event.id}/verifications"
    version = {"If-Match": f'"{event.version}"'}
    ann, quinn, ivan = (ApiCaller(client, name) for name in ("ann", "quinn", "ivan"))
    listed = ok(ivan.get(url))
    assert [(c["field"], c["needs_verification"], c["changed_by"]) for c in listed] == [
        ("occurred_on", True, people["ann"].printed_name),
        ("severity", True, people["ann"].printed_name)]
    problem(ivan.post(url, json={"field": "severity"}, headers=version), 403)
    problem(quinn.post(url, json={"field": "severity"}), 428)
    problem(ann.post(url, json={"field": "severity"}, headers=version), 403)
    problem(quinn.post(url, json={"field": "description"}, headers=version), 422, "field")
    problem(quinn.post(url, json={"field": "severity", "extra": 1}, headers=version), 422)
    problem(quinn.post(url, json={"field": "severity"}, headers={"If-Match": '"1"'}), 409)
    assert _verified_entries(event) == []
    for field in ("severity", "occurred_on"):
        done = ok(quinn.post(url, json={"field": field}, headers=version), 201)
        assert (done["verified_by"], done["needs_verification"]) == (
            people["quinn"].printed_name, False)
    assert [e.actor_id for e in _verified_entries(event)] == [people["quinn"].id] * 2
    assert not any(c["needs_verification"] for c in ok(ivan.get(url)))
    db.session.expire_all()
    _close(db.session.get(QualityEvent, event.id), people["quinn"])


@pytest.mark.backends("sqlite")
def test_critical_fields_are_checked_at_start_up(app):
    registry = app.extensions["cqms"].registry
    workflow = registry.workflows["capa_event"]

    def declared(**kwargs):  # type: ignore[no-untyped-def]
        check_declaration("capa", RecordType("capa_event", "Quality event", QualityEvent, "QE",
                                             "capa_event", **kwargs), workflow)

    declared(critical_fields=("severity",), verify_before=("close",))
    for kwargs, message in (
            ({"critical_fields": ("severity",)}, "declared together"),
            ({"verify_before": ("close",)}, "declared together"),
            ({"critical_fields": ("nonsense",), "verify_before": ("close",)},
             "unknown critical fields"),
            ({"critical_fields": ("version",), "verify_before": ("close",)},
             "unknown critical fields"),
            ({"critical_fields": ("severity",), "verify_before": ("finish",)},
             "unknown transitions")):
        with pytest.raises(StartupError, match=message):
            declared(**kwargs)


@pytest.mark.backends("sqlite")
def test_a_plugin_declaring_unknown_critical_fields_does_not_start(app_factory, temp_plugin):
    plugin = make_plugin(temp_plugin, rt_options={"critical_fields": ("nonsense",),
                                                  "verify_before": ("approve",)})
    with pytest.raises(StartupError, match="plugin 'acme': record type 'acme_widget': unknown "
                                           "critical fields"):
        app_factory(plugins=["acme"], extra_plugins={"acme": plugin})

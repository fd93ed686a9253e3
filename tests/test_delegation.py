"""Genuine owner only, and delegation (21 CFR 11.200(a)(2)-(3), P11-23): nobody signs as another
user; an absent person's delegate signs their open step with the delegate's own signature "on
behalf of" them, only within the delegation's period, with the delegate's own rights and
separation of duties applying to the delegate."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from types import SimpleNamespace

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from pypdf import PdfReader
from sqlalchemy import func, select, text

from core import PermissionDenied, SignatureRequest, create_record, perform_transition, transition
from core.audit.models import AuditEntry
from core.db import db, utcnow
from core.delegations.models import Delegation
from core.delegations.service import end_delegation, record_absence
from core.errors import ValidationError, WorkflowError
from core.exports.pdf import render_record_pdf
from core.exports.verify import verify_bundle
from core.integrity import key_path
from core.signatures.models import Signature
from core.signatures.service import mac_valid, verify_signatures
from core.tasks.models import Task
from core.tasks.service import open_task, tasks_for
from core.testing import DEFAULT_PASSWORD, csrf_token, post_with_token
from core.users.models import User

pytestmark = pytest.mark.backends("sqlite", "postgresql")
URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def people(app, make_user):  # type: ignore[no-untyped-def]
    return {"alice": make_user("alice", "author"), "bob": make_user("bob", "approver"),
            "carol": make_user("carol", "approver"), "dave": make_user("dave", "author"),
            "admin": make_user("admin", "system_admin")}


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _asked_widget(author: str = "alice", asked: str = "bob") -> int:
    """A widget in review whose approval ``asked`` was asked for (their open task)."""
    widget = create_record("acme_widget", _user(author), title="Pump", description="Blue")
    transition(widget, "submit", _user(author))
    open_task(widget, "acme.approval", f"Approve {widget.number}", assignee=_user(asked),
              action="approve", by=_user(author))
    db.session.commit()
    return widget.id


def _away(absent: str = "bob", delegate: str = "carol", start: int = 0, end: int = 5) -> Delegation:
    today = utcnow().date()
    row = record_absence(_user(absent), _user(delegate), today + timedelta(days=start),
                         today + timedelta(days=end), "Annual leave", _user(absent))
    db.session.commit()
    return row


def _sign_for(record_id: int, delegate: str, absent: str = "bob") -> None:
    perform_transition(db.session.get(AcmeWidget, record_id), "approve", _user(delegate),
                       attest=True, signature=SignatureRequest(
                           password=DEFAULT_PASSWORD, username=delegate, on_behalf_of=absent))


@pytest.mark.req("P11-23")
def test_signing_with_another_users_name_is_refused_counted_and_audited(people, client, login):
    widget_id = _asked_widget()
    login(client, "carol")
    page = client.post(f"{URL}{widget_id}/transition/approve", follow_redirects=True, data={
        "csrf_token": csrf_token(client, URL), "attest": "y", "username": "bob",
        "password": DEFAULT_PASSWORD}).get_data(as_text=True)  # bob's name and password
    assert "you can sign only as yourself" in page
    db.session.expire_all()
    assert db.session.get(AcmeWidget, widget_id).state == "in_review"
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0
    assert (_user("carol").failed_logins, _user("bob").failed_logins) == (1, 0)
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "signature.failed")).all()
    assert entry.actor_name.endswith("(carol)") and "gave the user name bob" in entry.new_value
    # nor through the API, nor by naming someone as "on behalf of" without a delegation
    token = client.post("/api/v1/auth/tokens", json={"username": "carol",
                                                     "password": DEFAULT_PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    url = f"/api/v1/records/acme_widget/{widget_id}/transitions/approve"
    as_bob = client.post(url, headers=headers, json={"signature": {
        "username": "bob", "password": DEFAULT_PASSWORD, "attest": True}})
    assert as_bob.status_code == 401
    for_bob = client.post(url, headers=headers, json={"signature": {
        "username": "carol", "password": DEFAULT_PASSWORD, "attest": True,
        "on_behalf_of": "bob"}})
    assert for_bob.status_code == 403 and "no delegation from bob" in for_bob.get_json()["detail"]
    naming_a_signer = client.post(url, headers=headers, json={"signature": {
        "username": "carol", "password": DEFAULT_PASSWORD, "attest": True,
        "signer_id": people["bob"].id}})
    assert naming_a_signer.status_code == 422  # no field names anyone else as the signer
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0
    # and no page or endpoint lets anyone act as someone else
    assert not [rule.rule for rule in client.application.url_map.iter_rules()
                if "impersonat" in rule.rule or "sudo" in rule.rule or "switch-user" in rule.rule]


@pytest.mark.req("P11-23")
def test_a_delegate_signs_the_absent_persons_step_as_themselves_on_their_behalf(people, client,
                                                                                login):
    widget_id = _asked_widget()
    _away()
    login(client, "carol")
    page = client.get(f"{URL}details/?id={widget_id}").get_data(as_text=True)
    assert "on behalf of Bob Tester" in page  # the signing form offers the absent person
    done = client.post(f"{URL}{widget_id}/transition/approve", follow_redirects=True, data={
        "csrf_token": csrf_token(client, URL), "attest": "y", "username": "carol",
        "password": DEFAULT_PASSWORD, "on_behalf_of": "bob"}).get_data(as_text=True)
    assert "approve done" in done
    [sig] = db.session.scalars(select(Signature)).all()
    assert (sig.signer_id, sig.username, sig.on_behalf_of_id) == (
        people["carol"].id, "carol", people["bob"].id)  # the delegate's signature, not bob's
    assert sig.manifestation.startswith("Carol Tester, ")
    assert sig.manifestation.endswith(", approved, on behalf of Bob Tester (bob)")
    assert mac_valid(sig)
    [task] = db.session.scalars(select(Task).where(Task.record_id == widget_id)).all()
    assert (task.assignee_id, task.state, task.completed_by_id) == (
        people["bob"].id, "done", people["carol"].id)  # bob's step, taken by his delegate
    page = client.get(f"{URL}details/?id={widget_id}").get_data(as_text=True)
    assert "(carol), on behalf of Bob Tester (bob)" in page
    widget = db.session.get(AcmeWidget, widget_id)
    pdf = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(
        render_record_pdf(widget, people["carol"]).data)).pages)
    assert "on behalf of Bob Tester (bob)" in " ".join(pdf.split())
    token = client.post("/api/v1/auth/tokens", json={"username": "alice",
                                                     "password": DEFAULT_PASSWORD})
    [listed] = client.get(f"/api/v1/records/acme_widget/{widget_id}/signatures", headers={
        "Authorization": f"Bearer {token.get_json()['token']}"}).get_json()
    assert (listed["signer"], listed["on_behalf_of"]) == ("carol", "Bob Tester (bob)")
    assert listed["manifestation"].endswith("UTC, on behalf of Bob Tester (bob)")
    [applied] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "signature.applied")).all()
    stored = json.loads(applied.new_value)
    assert stored["signer_id"] == f"carol (#{people['carol'].id})"
    assert stored["on_behalf_of_name"] == "Bob Tester (bob)"
    assert _audit_verify_findings() == []  # `cqms audit verify` checks the same MAC
    # "on behalf of" cannot be changed in the database without breaking the signature's MAC
    db.session.execute(text("UPDATE core_signature SET on_behalf_of_name = 'Alice Tester'"))
    db.session.expire_all()
    assert not mac_valid(db.session.get(Signature, sig.id))
    assert len(_audit_verify_findings()) == 1


def _audit_verify_findings() -> list:
    findings: list = []
    verify_signatures(db.session.connection(), SimpleNamespace(add=findings.append))
    return findings


@pytest.mark.req("P11-23")
def test_a_certified_copy_carries_and_verifies_the_on_behalf_signature(people, client, login,
                                                                        tmp_path):
    widget_id = _asked_widget()
    _away()
    _sign_for(widget_id, "carol")
    login(client, "carol")
    bundle = post_with_token(client, f"{URL}{widget_id}/certified-copy.zip")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        [sig] = json.loads(archive.read("signatures.json"))
    assert (sig["username"], sig["on_behalf_of_name"]) == ("carol", "Bob Tester (bob)")
    assert sig["manifestation"].endswith("on behalf of Bob Tester (bob)")
    path = tmp_path / "copy.zip"
    path.write_bytes(bundle.data)
    key = key_path().read_bytes()
    report = verify_bundle(path, key)
    assert report.ok and report.signatures == 1, report.problem
    # "on behalf of" removed in the database: the signature no longer matches its MAC
    db.session.execute(text("UPDATE core_signature SET on_behalf_of_id = NULL, "
                            "on_behalf_of_name = NULL"))
    db.session.expire_all()
    assert not mac_valid(db.session.scalar(select(Signature)))


@pytest.mark.req("P11-23")
def test_a_delegation_outside_its_period_or_ended_does_nothing(people):
    planned, ended = _asked_widget(), _asked_widget()

    def carols_tasks() -> set[int]:
        return {t.record_id for t in db.session.scalars(tasks_for(_user("carol")))}

    _away(start=1, end=3)  # starts tomorrow
    assert carols_tasks() == set()
    with pytest.raises(PermissionDenied, match="no delegation from bob"):
        _sign_for(planned, "carol")
    running = _away(start=0, end=1)
    assert carols_tasks() == {planned, ended}  # bob's open steps are the delegate's to take
    end_delegation(running, people["bob"], "Back early")
    db.session.commit()
    assert carols_tasks() == set()
    with pytest.raises(PermissionDenied, match="no delegation from bob"):
        _sign_for(ended, "carol")
    with pytest.raises(ValidationError) as past:
        _away(start=-5, end=-1)
    assert "ends_on" in past.value.errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


@pytest.mark.req("P11-23")
def test_the_delegate_needs_the_steps_permission_and_separation_of_duties_applies(people):
    widget_id = _asked_widget()
    _away(delegate="dave")  # dave is an author: he may not approve
    with pytest.raises(PermissionDenied, match="acme.approve is required"):
        _sign_for(widget_id, "dave")
    written_by_carol = _asked_widget(author="carol")  # carol created it: she may not approve it
    _away(delegate="carol")
    with pytest.raises(WorkflowError, match="separation of duties"):
        _sign_for(written_by_carol, "carol")
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


@pytest.mark.req("P11-23")
def test_a_delegate_signs_only_steps_the_absent_person_was_asked_for(people):
    widget = create_record("acme_widget", _user("alice"), title="Pump", description="Blue")
    transition(widget, "submit", _user("alice"))
    db.session.commit()  # nobody asked bob for this approval
    _away()
    with pytest.raises(PermissionDenied, match="was not asked"):
        _sign_for(widget.id, "carol")
    perform_transition(db.session.get(AcmeWidget, widget.id), "approve", _user("carol"),
                       attest=True, signature=SignatureRequest(password=DEFAULT_PASSWORD,
                                                               username="carol"))
    [sig] = db.session.scalars(select(Signature)).all()  # as herself: no "on behalf of"
    assert sig.on_behalf_of_id is None and "behalf" not in sig.manifestation


def test_absences_are_recorded_by_the_person_or_an_administrator_and_audited(people, client,
                                                                             login):
    today = utcnow().date()
    with pytest.raises(PermissionDenied):
        record_absence(people["bob"], people["carol"], today, today, "Leave", people["dave"])
    db.session.rollback()
    with pytest.raises(ValidationError) as bad:
        record_absence(people["bob"], people["bob"], today, today - timedelta(days=1), "",
                       people["bob"])
    assert set(bad.value.errors) == {"delegate", "ends_on", "reason"}
    db.session.rollback()
    login(client, "admin")
    url = "/account/delegations"
    page = client.get(url).get_data(as_text=True)
    assert 'id="absence-form"' in page and "Absent person" in page
    shown = client.post(url, follow_redirects=True, data={
        "csrf_token": csrf_token(client, url), "absent": str(people["bob"].id),
        "delegate": str(people["carol"].id), "starts_on": str(today),
        "ends_on": str(today + timedelta(days=2)), "reason": ""}).get_data(as_text=True)
    assert "Give the reason for the absence." in shown
    done = client.post(url, follow_redirects=True, data={
        "csrf_token": csrf_token(client, url), "absent": str(people["bob"].id),
        "delegate": str(people["carol"].id), "starts_on": str(today),
        "ends_on": str(today + timedelta(days=2)), "reason": "Conference"}).get_data(as_text=True)
    assert "Absence recorded" in done and "running" in done
    [row] = db.session.scalars(select(Delegation)).all()
    assert (row.absent_id, row.delegate_id, row.created_by_id) == (
        people["bob"].id, people["carol"].id, people["admin"].id)
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_delegation")).all()
    assert entries and {e.reason for e in entries} == {"Conference"}


def test_a_user_records_and_ends_their_own_absence_on_their_page(people, client, login):
    today = utcnow().date()
    url = "/account/delegations"
    login(client, "bob")
    page = client.get(url).get_data(as_text=True)
    assert 'id="absence-form"' in page and 'name="absent"' not in page  # only for themselves
    fields = {"delegate": str(people["carol"].id), "starts_on": str(today),
              "ends_on": str(today + timedelta(days=1)), "reason": "Training course"}
    for_alice = client.post(url, follow_redirects=True, data={
        "csrf_token": csrf_token(client, url), "absent": str(people["alice"].id), **fields})
    assert "Not a valid choice" in for_alice.get_data(as_text=True)  # not for someone else
    assert db.session.scalar(select(func.count()).select_from(Delegation)) == 0
    done = client.post(url, follow_redirects=True,
                       data={"csrf_token": csrf_token(client, url), **fields})
    assert "Absence recorded" in done.get_data(as_text=True)
    [row] = db.session.scalars(select(Delegation)).all()
    assert (row.absent_id, row.delegate_id) == (people["bob"].id, people["carol"].id)
    no_reason = client.post(f"{url}/{row.id}/end", follow_redirects=True,
                            data={"csrf_token": csrf_token(client, url), "reason": ""})
    assert "Give a reason" in no_reason.get_data(as_text=True)
    ended = client.post(f"{url}/{row.id}/end", follow_redirects=True,
                        data={"csrf_token": csrf_token(client, url), "reason": "Course cancelled"})
    assert "Delegation ended." in ended.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Delegation, row.id).ended_at is not None
    client.post("/logout", data={"csrf_token": csrf_token(client, url)})
    login(client, "dave")  # neither absent, delegate nor administrator
    assert client.post(f"{url}/{row.id}/end", data={
        "csrf_token": csrf_token(client, url), "reason": "x"}).status_code == 404

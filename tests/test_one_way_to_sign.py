"""One way to sign (issue 12 item 5): ``perform_transition`` and the one signature form serve the
admin record page, the API and plugin pages; a wrong signing password is counted in its own
short transaction while the request's own work is rolled back, never committed with it."""

from __future__ import annotations

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from sqlalchemy import func, select

from core import (
    AuthenticationFailed,
    SignatureRequest,
    create_record,
    perform_transition,
    transition,
    update_record,
)
from core.audit.models import AuditEntry
from core.db import db
from core.signatures.models import Signature, SignatureAttestation
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users.models import User

pytestmark = pytest.mark.backends("sqlite", "postgresql")
URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def submitted(app, make_user):  # type: ignore[no-untyped-def]
    author = make_user("alice", "author")
    make_user("bob", "approver")
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(widget, "submit", author)
    db.session.commit()
    return widget.id


def _failed_logins(username: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(User.failed_logins).where(User.username == username))


@pytest.mark.req("P11-27")
def test_a_wrong_password_is_counted_alone_and_the_pending_work_is_rolled_back(submitted):
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    widget = db.session.get(AcmeWidget, submitted)
    update_record(widget, bob, expected_version=widget.version, reason="Tidy the wording",
                  description="Changed in the same request")  # flushed, not committed
    with pytest.raises(AuthenticationFailed):
        perform_transition(widget, "approve", bob, attest=True,
                           signature=SignatureRequest(password="not-the-password!"))
    assert _failed_logins("bob") == 1
    widget = db.session.get(AcmeWidget, submitted)
    assert widget.description == "Blue" and widget.state == "in_review"
    assert db.session.scalar(select(func.count()).select_from(SignatureAttestation)) == 0
    failed = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.action.in_(("signature.failed", "login.failed")))).all()
    assert sorted(failed) == ["login.failed", "signature.failed"]


def test_perform_transition_attests_signs_and_commits_in_one_unit(submitted):
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    widget = db.session.get(AcmeWidget, submitted)
    perform_transition(widget, "approve", bob, attest=True,
                       signature=SignatureRequest(password=DEFAULT_PASSWORD, comment="OK"))
    db.session.rollback()  # nothing pending: it was committed
    widget = db.session.get(AcmeWidget, submitted)
    assert widget.state == "approved"
    [signature] = db.session.scalars(select(Signature)).all()
    assert signature.comment == "OK" and signature.meaning == "approved"


def _post(client, record_id, step, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client, URL)
    return client.post(f"{URL}{record_id}/transition/{step}",
                       data={"csrf_token": token, **data}, follow_redirects=True)


def test_the_admin_page_signs_through_the_one_form(submitted, client, login):
    login(client, "bob")
    page = client.get(f"{URL}details/?id={submitted}").get_data(as_text=True)
    assert 'id="approve-password"' in page and 'id="approve-attest"' in page
    empty = _post(client, submitted, "approve", attest="y").get_data(as_text=True)
    assert "Enter your password to sign." in empty
    assert _failed_logins("bob") == 0  # an empty field is a form error, not a failed signature
    wrong = _post(client, submitted, "approve", attest="y", username="bob",
                  password="wrong-password-here").get_data(as_text=True)
    assert "password (or code) is not correct" in wrong
    assert _failed_logins("bob") == 1
    assert db.session.scalar(select(func.count()).select_from(SignatureAttestation)) == 0
    done = _post(client, submitted, "approve", attest="y", password=DEFAULT_PASSWORD,
                 username="bob")
    assert "approve done" in done.get_data(as_text=True)
    assert _failed_logins("bob") == 0
    assert db.session.get(AcmeWidget, submitted).state == "approved"


def test_the_api_counts_a_wrong_password_and_keeps_nothing_else(submitted, client):
    token = client.post("/api/v1/auth/tokens", json={"username": "bob",
                                                     "password": DEFAULT_PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    response = client.post(f"/api/v1/records/acme_widget/{submitted}/transitions/approve",
                           json={"signature": {"username": "bob",
                                               "password": "wrong-password-123",
                                               "attest": True}}, headers=headers)
    assert response.status_code == 401
    assert _failed_logins("bob") == 1
    assert db.session.scalar(select(func.count()).select_from(SignatureAttestation)) == 0
    response = client.post(f"/api/v1/records/acme_widget/{submitted}/transitions/approve",
                           json={"signature": {"username": "bob", "password": DEFAULT_PASSWORD,
                                               "attest": True}},
                           headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "approved"

"""Continuous and non-continuous signing sessions (21 CFR 11.200(a)(1), P11-22): the first
signature of a sign-in session takes the user name and the password; later ones in the same
session the password only; after signing out, or a timeout, the user name is asked again. Every
API signature takes all components."""

from __future__ import annotations

import time

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from sqlalchemy import func, select

from core import create_record, transition
from core.audit.models import AuditEntry
from core.db import db
from core.signatures.models import Signature
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users.auth import SEEN_KEY
from core.users.models import User

pytestmark = pytest.mark.backends("sqlite", "postgresql")
URL = "/admin/acme_widget/"
NEEDS_NAME = "the first signature after you sign in needs your user name and password"


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widgets(app, make_user):  # type: ignore[no-untyped-def]
    author = make_user("alice", "author")
    make_user("bob", "approver")
    ids = []
    for title in ("Pump", "Valve", "Hose"):
        widget = create_record("acme_widget", author, title=title, description="Blue")
        transition(widget, "submit", author)
        ids.append(widget.id)
    db.session.commit()
    return ids


def _approve(client, record_id, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client, URL)
    return client.post(f"{URL}{record_id}/transition/approve",
                       data={"csrf_token": token, "attest": "y", **data},
                       follow_redirects=True).get_data(as_text=True)


def _state(record_id: int) -> str:
    db.session.expire_all()
    return db.session.get(AcmeWidget, record_id).state


def _failed_logins(username: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(User.failed_logins).where(User.username == username))


def _signatures() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature))


@pytest.mark.req("P11-22")
def test_the_first_signature_needs_the_user_name_and_later_ones_the_password_only(
        widgets, client, login):
    first, second, _third = widgets
    login(client, "bob")
    page = client.get(f"{URL}details/?id={first}").get_data(as_text=True)
    assert 'id="approve-username"' in page  # asked: nothing signed yet in this session
    refused = _approve(client, first, password=DEFAULT_PASSWORD)
    assert NEEDS_NAME in refused
    assert _state(first) == "in_review" and _signatures() == 0
    assert _failed_logins("bob") == 0  # a missing field is a form error, not a failed signature

    assert "approve done" in _approve(client, first, username="Bob", password=DEFAULT_PASSWORD)
    assert _state(first) == "approved"  # the user name as at sign-in: case does not matter

    page = client.get(f"{URL}details/?id={second}").get_data(as_text=True)
    assert 'id="approve-username"' not in page and "Signing as bob" in page
    assert "approve done" in _approve(client, second, password=DEFAULT_PASSWORD)
    assert _state(second) == "approved"
    assert [s.username for s in db.session.scalars(select(Signature))] == ["bob", "bob"]


@pytest.mark.req("P11-22")
def test_after_signing_out_and_in_again_every_component_is_asked_again(widgets, client, login):
    first, second, _third = widgets
    login(client, "bob")
    assert "approve done" in _approve(client, first, username="bob", password=DEFAULT_PASSWORD)
    client.post("/logout", data={"csrf_token": csrf_token(client, URL)})
    login(client, "bob")
    assert NEEDS_NAME in _approve(client, second, password=DEFAULT_PASSWORD)
    assert _state(second) == "in_review"
    assert "approve done" in _approve(client, second, username="bob", password=DEFAULT_PASSWORD)
    assert _state(second) == "approved"


@pytest.mark.req("P11-22")
def test_after_a_session_timeout_every_component_is_asked_again(widgets, client, login, app):
    first, second, _third = widgets
    login(client, "bob")
    assert "approve done" in _approve(client, first, username="bob", password=DEFAULT_PASSWORD)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session[SEEN_KEY] = int(time.time()) - idle - 5  # idle past the timeout
    timed_out = client.get(f"{URL}details/?id={second}")
    assert timed_out.status_code == 302 and "/login" in timed_out.headers["Location"]
    login(client, "bob")
    assert NEEDS_NAME in _approve(client, second, password=DEFAULT_PASSWORD)
    assert _state(second) == "in_review"


@pytest.mark.req("P11-22")
def test_a_wrong_password_in_a_continuous_session_is_refused_and_counted(widgets, client, login):
    first, second, _third = widgets
    login(client, "bob")
    assert "approve done" in _approve(client, first, username="bob", password=DEFAULT_PASSWORD)
    wrong = _approve(client, second, password="not-the-password-1")
    assert "password (or code) is not correct" in wrong
    assert _state(second) == "in_review" and _failed_logins("bob") == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "signature.failed")) == 1
    # the session stays continuous: the right password alone signs
    assert "approve done" in _approve(client, second, password=DEFAULT_PASSWORD)
    assert _failed_logins("bob") == 0


@pytest.mark.req("P11-22")
def test_every_api_signature_takes_all_components(widgets, client):
    first, second, _third = widgets
    token = client.post("/api/v1/auth/tokens", json={"username": "bob",
                                                     "password": DEFAULT_PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}

    def approve(record_id, **signature):  # type: ignore[no-untyped-def]
        return client.post(f"/api/v1/records/acme_widget/{record_id}/transitions/approve",
                           json={"signature": {"attest": True, **signature}}, headers=headers)

    missing = approve(first, password=DEFAULT_PASSWORD)
    assert missing.status_code == 422
    assert "username" in str(missing.get_json())
    assert approve(first, username="bob", password=DEFAULT_PASSWORD).status_code == 200
    # an API token is no continuous session: the next signature names the user again
    assert approve(second, password=DEFAULT_PASSWORD).status_code == 422
    assert _state(second) == "in_review"
    wrong = approve(second, username="bob", password="not-the-password-1")
    assert wrong.status_code == 401 and _failed_logins("bob") == 1
    assert approve(second, username="bob", password=DEFAULT_PASSWORD).status_code == 200

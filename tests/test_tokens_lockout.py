"""API tokens end with the account's other credentials: refused while the account is locked,
revoked (audited) by a password change or a deactivation, and refused when issued before the
password's last change, whatever wrote it. Each refusal is a 401 problem+json saying why."""

from __future__ import annotations

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core.audit.models import AuditEntry
from core.db import db
from core.records.models import Record
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users import service
from core.users.models import ApiToken
from core.users.passwords import set_password

API = "/api/v1"
NEW_PASSWORD = "Another-Long-Passphrase-42"

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def alice(app, make_user):
    return make_user("alice", "author")


def issue(client, password=DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post(f"{API}/auth/tokens", json={"username": "alice", "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def create_widget(client, headers):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/records/acme_widget", json={"title": "Pump"}, headers=headers)


def widgets() -> int:
    return db.session.scalar(select(func.count()).select_from(Record))


def assert_refused(client, headers, because: str) -> None:
    """Neither a read nor a write gets through, and the answer says why."""
    before = widgets()
    for response in (client.get(f"{API}/me", headers=headers), create_widget(client, headers)):
        assert response.status_code == 401, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["title"] == "API token refused"
        assert because in body["detail"], body
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    db.session.expire_all()
    assert widgets() == before


def lock_out(app, client) -> None:
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        token = csrf_token(client, "/login")
        client.post("/login", data={"csrf_token": token, "username": "alice",
                                    "password": "wrong-password-123", "totp": ""})


@pytest.mark.req("P11-26", "SEC-08")
def test_a_locked_account_cannot_use_its_tokens_until_unlocked(app, client, alice,
                                                               system_actor):
    headers = issue(client)
    assert create_widget(client, headers).status_code == 201
    lock_out(app, client)
    db.session.expire_all()
    assert alice.is_locked
    assert_refused(client, headers, "locked")
    service.unlock(alice, reason="Confirmed with the user by phone")
    db.session.commit()
    assert client.get(f"{API}/me", headers=headers).status_code == 200  # refused, not revoked


@pytest.mark.req("P11-26", "SEC-09")
def test_changing_the_password_revokes_earlier_tokens(app, client, alice, login):
    old = issue(client)
    login(client, "alice")
    token = csrf_token(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert_refused(client, old, "revoked")
    [row] = db.session.scalars(select(ApiToken)).all()
    assert row.revoked_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_token.revoked"))
    assert entry.actor_id == alice.id and "password" in entry.reason.lower()
    new = issue(client, NEW_PASSWORD)
    assert create_widget(client, new).status_code == 201


@pytest.mark.req("P11-26")
def test_a_password_set_by_any_path_refuses_tokens_issued_before(app, client, alice,
                                                                 system_actor):
    """An administrator's reset (or any other writer of the password) ends the earlier tokens
    even where nothing revoked them: a token older than the password is refused."""
    headers = issue(client)
    set_password(alice, NEW_PASSWORD, must_change=False)
    db.session.commit()
    assert_refused(client, headers, "password")


@pytest.mark.req("P11-26", "SEC-09")
def test_deactivation_revokes_tokens_for_good(app, client, alice, system_actor):
    headers = issue(client)
    service.deactivate(alice, reason="Left the company")
    db.session.commit()
    assert_refused(client, headers, "deactivated")
    assert db.session.scalar(select(ApiToken.revoked_at)) is not None
    service.reactivate(alice, reason="Rejoined")
    db.session.commit()
    assert_refused(client, headers, "revoked")

"""Accounts and sessions: sign-in, lockout, timeouts, server-side invalidation, passwords, TOTP."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEntry
from core.db import utcnow
from core.errors import ConflictError, ValidationError
from core.testing import CSRF_INPUT, DEFAULT_PASSWORD, csrf_token
from core.users import service
from core.users.auth import LOGIN_FAILED, SEEN_KEY, _token_id
from core.users.models import User, UserSession
from core.users.passwords import policy_errors

SESSION_COOKIE = "cqms_session"
NEW_PASSWORD = "Nebula-Quartz-Lantern-42"
THIRD_PASSWORD = "Violet-Harbor-Sextant-88"
SECRET_ON_PAGE = re.compile(r'<code class="cqms-secret">([A-Z2-7]+)</code>')


# Test classes override the harness's ``app_config`` fixture for per-test configuration.


# -- helpers ---------------------------------------------------------------------------------------


def audit_entries(db, action: str, entity_id: Any = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.entity_type == "core_user"
    )
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
    return list(db.session.scalars(stmt.order_by(AuditEntry.id)))


def is_signed_in(client) -> bool:
    response = client.get("/admin/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    return False


def session_cookie(client) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, cookie_value: str):
    """A different browser presenting a captured session cookie."""
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, cookie_value)
    return thief


def set_cookies(response, name: str) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]


def logout(client):
    token = csrf_token(client, "/account/password")
    return client.post("/logout", data={"csrf_token": token})


def change_password(client, current: str, new: str, confirm: str | None = None):
    token = csrf_token(client, "/account/password")
    return client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "confirm": new if confirm is None else confirm,
        },
    )


def failed_login_page(response, username: str) -> str:
    """The sign-in page without its per-response tokens and without the echoed username."""
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+"', r'\1"', body)
    body = re.sub(r'nonce="[^"]+"', 'nonce=""', body)
    return body.replace(f'value="{username}"', 'value=""')


# -- sign-in ---------------------------------------------------------------------------------------


@pytest.mark.req("E6-11", "SEC-09")
def test_login_succeeds_creates_server_session_and_is_audited(client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    response = login(client, "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert is_signed_in(client)

    rows = list(db.session.scalars(select(UserSession).where(UserSession.user_id == alice.id)))
    assert len(rows) == 1
    assert rows[0].ended_at is None
    assert rows[0].user_agent  # where the session came from is kept
    assert alice.last_login_at is not None
    assert alice.failed_logins == 0
    [entry] = audit_entries(db, "login.succeeded", alice.id)
    assert entry.actor_id == alice.id


@pytest.mark.req("E6-11", "SEC-08")
def test_wrong_password_is_refused_and_audited(client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    response = login(client, "alice", "Wrong-password-entirely")
    assert response.status_code == 200
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)
    db.session.refresh(alice)
    assert alice.failed_logins == 1
    [entry] = audit_entries(db, "login.failed", alice.id)
    assert (entry.field, entry.new_value) == ("cause", "password")
    assert entry.actor_name.endswith("(system)")


@pytest.mark.req("E6-11", "SEC-08")
def test_unknown_username_is_refused_and_audited(client, db, make_user, login):
    make_user("alice", "qa_manager")
    response = login(client, "ghost", DEFAULT_PASSWORD)
    assert response.status_code == 200
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)
    [entry] = audit_entries(db, "login.failed", "")
    assert (entry.field, entry.new_value) == ("username", "ghost")


@pytest.mark.req("SEC-08")
def test_service_principal_cannot_sign_in(client, db, login):
    system = service.ensure_system_user()
    db.session.commit()
    assert system.is_service
    response = login(client, "system", DEFAULT_PASSWORD)
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)


@pytest.mark.req("SEC-08")
def test_every_refusal_gives_the_same_answer(app, client, db, make_user, login, system_actor):
    """Unknown user, wrong password, locked and deactivated accounts are indistinguishable."""
    make_user("alice", "qa_manager")
    locked = make_user("lockie", "qa_manager")
    gone = make_user("gone", "qa_manager")
    locked.locked_at = utcnow()
    service.deactivate(gone, reason="left the company")
    db.session.commit()

    attempts = {
        "nobody": login(client, "nobody", DEFAULT_PASSWORD),
        "alice": login(client, "alice", "Not-her-password-at-all"),
        "lockie": login(client, "lockie", DEFAULT_PASSWORD),
        "gone": login(client, "gone", DEFAULT_PASSWORD),
    }
    pages = {name: failed_login_page(response, name) for name, response in attempts.items()}
    assert LOGIN_FAILED in pages["nobody"]
    assert pages["alice"] == pages["nobody"]
    assert pages["lockie"] == pages["nobody"]
    assert pages["gone"] == pages["nobody"]
    assert not is_signed_in(client)


@pytest.mark.req("SEC-08")
def test_unknown_user_and_wrong_password_take_the_same_time(client, make_user, login):
    """The answer must not leak through its timing either (min of several tries each)."""
    make_user("alice", "qa_manager")
    unknown, wrong = [], []
    for _ in range(4):  # the default threshold (5) is not reached
        started = time.perf_counter()
        login(client, "nobody", "Not-a-password-at-all")
        unknown.append(time.perf_counter() - started)
        started = time.perf_counter()
        login(client, "alice", "Not-a-password-at-all")
        wrong.append(time.perf_counter() - started)
    assert abs(min(unknown) - min(wrong)) < 0.03, (unknown, wrong)


def test_signed_in_user_visiting_login_goes_to_dashboard(client, make_user, login):
    make_user("alice", "qa_manager")
    login(client, "alice")
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


# -- lockout ---------------------------------------------------------------------------------------


class TestLockout:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"LOCKOUT_THRESHOLD": 3}

    @pytest.mark.req("SEC-08", "P11-27", "E6-11")
    def test_account_locks_at_threshold_and_unlock_restores_login(
        self, client, db, make_user, login, system_actor
    ):
        alice = make_user("alice", "qa_manager")
        for _ in range(2):
            login(client, "alice", "Wrong-password-entirely")
        db.session.refresh(alice)
        assert alice.failed_logins == 2
        assert not alice.is_locked
        assert audit_entries(db, "account.locked", alice.id) == []

        login(client, "alice", "Wrong-password-entirely")
        db.session.refresh(alice)
        assert alice.is_locked
        failures = audit_entries(db, "login.failed", alice.id)
        assert [e.new_value for e in failures] == ["password"] * 3
        [locked] = audit_entries(db, "account.locked", alice.id)
        assert locked.reason == "3 consecutive failed credential checks"
        assert locked.actor_name.endswith("(system)")

        # The right password is refused while locked, with the same answer, and not counted.
        response = login(client, "alice")
        assert response.status_code == 200
        assert LOGIN_FAILED in response.get_data(as_text=True)
        assert not is_signed_in(client)
        db.session.refresh(alice)
        assert alice.failed_logins == 3
        assert audit_entries(db, "login.failed", alice.id)[-1].new_value == "locked"
        assert audit_entries(db, "login.succeeded", alice.id) == []

        service.unlock(alice, reason="Identity confirmed by phone")  # as the system actor
        db.session.commit()
        [unlocked] = audit_entries(db, "user.unlocked", alice.id)
        assert unlocked.reason == "Identity confirmed by phone"
        assert not alice.is_locked and alice.failed_logins == 0

        response = login(client, "alice")
        assert response.status_code == 302
        assert is_signed_in(client)

    @pytest.mark.req("SEC-08", "P11-27")
    def test_only_consecutive_failures_count(self, client, db, make_user, login):
        alice = make_user("alice", "qa_manager")
        for _ in range(2):
            login(client, "alice", "Wrong-password-entirely")
        assert login(client, "alice").status_code == 302
        logout(client)
        for _ in range(2):
            login(client, "alice", "Wrong-password-entirely")
        db.session.refresh(alice)
        assert not alice.is_locked
        assert alice.failed_logins == 2

    @pytest.mark.req("SEC-08", "P11-27")
    def test_unlock_refuses_an_account_that_is_not_locked(self, make_user, system_actor):
        alice = make_user("alice", "qa_manager")
        with pytest.raises(ConflictError):
            service.unlock(alice)


# -- sessions --------------------------------------------------------------------------------------


@pytest.mark.req("SEC-09")
def test_each_login_gets_a_new_session_id(app, client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    client.get("/login")  # an anonymous session exists before sign-in (CSRF token)
    with client.session_transaction() as before:
        assert "_user_id" not in before
        before["planted"] = "fixation attempt"
    login(client, "alice")
    with client.session_transaction() as first:
        first_token = first["_user_id"]
        assert "planted" not in first  # the pre-login session is discarded
    logout(client)
    login(client, "alice")
    with client.session_transaction() as second:
        second_token = second["_user_id"]
    other = app.test_client()
    login(other, "alice")
    with other.session_transaction() as third:
        third_token = third["_user_id"]
    assert len({first_token, second_token, third_token}) == 3

    # Only a hash of the token is stored server-side.
    ids = set(db.session.scalars(select(UserSession.id).where(UserSession.user_id == alice.id)))
    assert ids == {_token_id(t) for t in (first_token, second_token, third_token)}
    assert first_token not in ids


@pytest.mark.req("SEC-09")
def test_session_cookie_is_httponly_and_samesite(client, make_user, login):
    make_user("alice", "qa_manager")
    response = login(client, "alice")
    [cookie] = set_cookies(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests; see the FORCE_HTTPS test


class TestPasswordReentryLockout:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"LOCKOUT_THRESHOLD": 3}

    @pytest.mark.req("SEC-08", "P11-27")
    def test_wrong_current_passwords_lock_the_account_and_end_the_session(
        self, client, db, make_user, login
    ):
        alice = make_user("alice", "qa_manager")
        login(client, "alice")
        for _ in range(2):
            response = change_password(client, "Not-my-password-at-all", NEW_PASSWORD)
            assert "The current password is not correct." in response.get_data(as_text=True)
        db.session.refresh(alice)
        assert alice.failed_logins == 2 and not alice.is_locked
        causes = [e.new_value for e in audit_entries(db, "login.failed", alice.id)]
        assert causes == ["password re-entry", "password re-entry"]
        response = change_password(client, "Not-my-password-at-all", NEW_PASSWORD)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        db.session.refresh(alice)
        assert alice.is_locked
        assert len(audit_entries(db, "account.locked", alice.id)) == 1
        assert not is_signed_in(client)  # the lock ended every session of the account
        assert LOGIN_FAILED in login(client, "alice").get_data(as_text=True)


class TestSecureCookies:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"FORCE_HTTPS": True}

    @pytest.mark.req("SEC-09", "P11-14")
    def test_session_cookie_is_secure_with_https(self, client, make_user):
        make_user("alice", "qa_manager")
        base = "https://localhost"
        page = client.get("/login", base_url=base)
        token = CSRF_INPUT.search(page.get_data(as_text=True)).group(1)
        response = client.post(
            "/login",
            base_url=base,
            data={"csrf_token": token, "username": "alice", "password": DEFAULT_PASSWORD},
            headers={"Referer": f"{base}/login"},  # Flask-WTF's strict referrer check on HTTPS
        )
        assert response.status_code == 302
        [cookie] = set_cookies(response, SESSION_COOKIE)
        assert "Secure" in cookie and "HttpOnly" in cookie


class TestTimeouts:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"SESSION_IDLE_MINUTES": 5, "SESSION_ABSOLUTE_HOURS": 2}

    @pytest.mark.req("SEC-09")
    def test_idle_session_ends_after_configured_minutes(self, client, make_user, login):
        make_user("alice", "qa_manager")
        login(client, "alice")
        with client.session_transaction() as sess:
            sess[SEEN_KEY] = int(time.time()) - 4 * 60
        assert is_signed_in(client)
        with client.session_transaction() as sess:  # activity slid the idle window forward
            assert sess[SEEN_KEY] >= int(time.time()) - 5

        with client.session_transaction() as sess:
            sess[SEEN_KEY] = int(time.time()) - 5 * 60 - 10
        assert not is_signed_in(client)
        with client.session_transaction() as sess:  # and stays ended
            assert sess[SEEN_KEY] < int(time.time()) - 5 * 60
        assert not is_signed_in(client)

    @pytest.mark.req("SEC-09")
    def test_session_ends_at_absolute_limit_despite_activity(self, client, db, make_user, login):
        alice = make_user("alice", "qa_manager")
        login(client, "alice")
        row = db.session.scalars(select(UserSession).where(UserSession.user_id == alice.id)).one()

        row.created_at = utcnow() - timedelta(hours=1, minutes=59)
        db.session.commit()
        assert is_signed_in(client)

        row.created_at = utcnow() - timedelta(hours=2, minutes=1)
        db.session.commit()
        assert not is_signed_in(client)
        # A fresh sign-in starts a new session with a new clock.
        login(client, "alice")
        assert is_signed_in(client)


@pytest.mark.req("SEC-09", "E6-11")
def test_captured_cookie_is_refused_after_logout(app, client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    login(client, "alice")
    assert is_signed_in(client)
    captured = session_cookie(client)
    assert is_signed_in(replay(app, captured))  # the copy works while the session lives

    response = logout(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert not is_signed_in(replay(app, captured))
    [row] = db.session.scalars(select(UserSession).where(UserSession.user_id == alice.id))
    assert row.ended_at is not None and row.end_reason == "logout"
    [entry] = audit_entries(db, "logout", alice.id)
    assert entry.actor_id == alice.id


@pytest.mark.req("SEC-09")
def test_logout_needs_post(client, make_user, login):
    make_user("alice", "qa_manager")
    login(client, "alice")
    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)


@pytest.mark.req("SEC-09", "SEC-07")
def test_password_change_ends_every_session(app, client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    other = app.test_client()
    login(client, "alice")
    login(other, "alice")
    captured = session_cookie(client)

    response = change_password(client, DEFAULT_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert not is_signed_in(other)
    assert not is_signed_in(replay(app, captured))
    stmt = select(UserSession.end_reason).where(UserSession.user_id == alice.id)
    reasons = set(db.session.scalars(stmt))
    assert reasons == {"password changed"}


@pytest.mark.req("SEC-09", "P11-26")
def test_deactivation_ends_sessions_and_blocks_login(
    app, client, db, make_user, login, system_actor
):
    alice = make_user("alice", "qa_manager")
    login(client, "alice")
    captured = session_cookie(client)
    service.deactivate(alice, reason="left the company")
    db.session.commit()
    assert not is_signed_in(replay(app, captured))
    assert not is_signed_in(client)
    response = login(client, "alice")
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)


@pytest.mark.req("P11-26", "SEC-09")
def test_administrator_can_revoke_open_sessions(app, client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    other = app.test_client()
    login(client, "alice")
    login(other, "alice")
    assert service.end_sessions(alice, "revoked by administrator") == 2
    db.session.commit()
    assert not is_signed_in(client)
    assert not is_signed_in(other)
    # Revocation ends sessions, not the account.
    login(client, "alice")
    assert is_signed_in(client)


# -- passwords -------------------------------------------------------------------------------------


@pytest.mark.req("SEC-07", "P11-24")
@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Short-pass1", False),  # 11 characters
        ("Twelve-chars", True),  # exactly 12
        ("purple monkey dishwasher", True),  # no composition rules
        ("x7" + "long passphrase " * 4 + "end", True),  # 69 characters
        ("q" + "Rw9-" * 63 + "zz", True),  # 255 characters
        ("administrator1", False),  # on the bundled list
        ("Clinicaltrials2024!", False),  # listed word plus trailing digits/symbols
        ("ababababababab", False),  # too few distinct characters
        ("alice-in-wonderland-7", False),  # contains the username
    ],
)
def test_password_policy_at_set_time(app, password, accepted):
    errors = policy_errors(password, username="alice")
    assert (errors == []) is accepted, errors


@pytest.mark.req("SEC-07", "P11-24")
@pytest.mark.backends("sqlite", "postgresql")
def test_account_creation_applies_the_policy(db, system_actor):
    with pytest.raises(ValidationError) as excinfo:
        service.create_user("bob", "Bob Builder", "bob@example.org", "short")
    assert "password" in excinfo.value.errors
    db.session.rollback()
    stmt = select(func.count()).select_from(User).where(User.username == "bob")
    assert db.session.scalar(stmt) == 0


@pytest.mark.req("SEC-07")
def test_change_needs_the_current_password(client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    login(client, "alice")
    old_hash = alice.password_hash
    response = change_password(client, "Not-my-current-one", NEW_PASSWORD)
    assert response.status_code == 200
    assert "The current password is not correct." in response.get_data(as_text=True)
    assert is_signed_in(client)
    db.session.refresh(alice)
    assert alice.password_hash == old_hash

    response = change_password(client, DEFAULT_PASSWORD, NEW_PASSWORD, confirm=THIRD_PASSWORD)
    assert response.status_code == 200
    assert "The passwords differ." in response.get_data(as_text=True)
    db.session.refresh(alice)
    assert alice.password_hash == old_hash


@pytest.mark.req("SEC-07", "P11-24")
def test_change_page_applies_length_and_common_rules(client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    login(client, "alice")
    old_hash = alice.password_hash
    too_short = change_password(client, DEFAULT_PASSWORD, "Eleven-char")
    assert "Use at least 12 characters." in too_short.get_data(as_text=True)
    common = change_password(client, DEFAULT_PASSWORD, "Administrator2024!")
    assert "too common" in common.get_data(as_text=True)
    db.session.refresh(alice)
    assert alice.password_hash == old_hash
    assert is_signed_in(client)


@pytest.mark.req("SEC-07")
def test_change_page_accepts_a_long_passphrase(client, make_user, login):
    make_user("alice", "qa_manager")
    passphrase = "the quick brown fox jumps over the lazy dog near the river bank at dawn"
    assert len(passphrase) >= 64
    login(client, "alice")
    assert change_password(client, DEFAULT_PASSWORD, passphrase).status_code == 302
    assert login(client, "alice", DEFAULT_PASSWORD).status_code == 200  # old one is gone
    assert login(client, "alice", passphrase).status_code == 302
    assert is_signed_in(client)


class TestPasswordHistory:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"PASSWORD_HISTORY": 2}

    @pytest.mark.req("SEC-07", "P11-25")
    @pytest.mark.backends("sqlite", "postgresql")
    def test_last_n_passwords_cannot_be_reused(self, client, db, make_user, login):
        alice = make_user("alice", "qa_manager")
        login(client, "alice")
        assert change_password(client, DEFAULT_PASSWORD, NEW_PASSWORD).status_code == 302

        login(client, "alice", NEW_PASSWORD)
        reused = change_password(client, NEW_PASSWORD, DEFAULT_PASSWORD)
        assert reused.status_code == 200
        assert "have not used for your last 2 changes" in reused.get_data(as_text=True)
        assert change_password(client, NEW_PASSWORD, NEW_PASSWORD).status_code == 200  # current
        assert change_password(client, NEW_PASSWORD, THIRD_PASSWORD).status_code == 302

        # Two changes later the first password has left the history window.
        login(client, "alice", THIRD_PASSWORD)
        assert change_password(client, THIRD_PASSWORD, NEW_PASSWORD).status_code == 200
        assert change_password(client, THIRD_PASSWORD, DEFAULT_PASSWORD).status_code == 302
        db.session.refresh(alice)
        assert login(client, "alice", DEFAULT_PASSWORD).status_code == 302


@pytest.mark.req("SEC-07", "P11-24")
def test_administrator_set_password_must_be_changed_first(client, db, make_user, login):
    alice = make_user("alice", "qa_manager", must_change_password=True)
    login(client, "alice")
    for path in ("/admin/", "/admin/core_users/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/account/password"
    assert client.get("/account/password").status_code == 200
    assert change_password(client, DEFAULT_PASSWORD, NEW_PASSWORD).status_code == 302
    login(client, "alice", NEW_PASSWORD)
    assert is_signed_in(client)
    db.session.refresh(alice)
    assert not alice.must_change_password


# -- TOTP ------------------------------------------------------------------------------------------


def enrol_totp(client) -> str:
    page = client.get("/account/totp")
    assert page.status_code == 200
    secret = SECRET_ON_PAGE.search(page.get_data(as_text=True)).group(1)
    token = csrf_token(client, "/account/totp")
    response = client.post(
        "/account/totp", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return secret


def wrong_code(secret: str) -> str:
    right = {pyotp.TOTP(secret).at(time.time() + step * 30) for step in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


@pytest.mark.req("E6-20")
def test_totp_enrolment_then_login_needs_the_code(client, db, make_user, login):
    alice = make_user("alice", "qa_manager")
    login(client, "alice")
    page = client.get("/account/totp")
    secret = SECRET_ON_PAGE.search(page.get_data(as_text=True)).group(1)
    token = csrf_token(client, "/account/totp")
    refused = client.post("/account/totp", data={"csrf_token": token, "code": wrong_code(secret)})
    assert refused.status_code == 200
    assert "The code does not match" in refused.get_data(as_text=True)
    db.session.refresh(alice)
    assert alice.totp_enabled_at is None

    assert enrol_totp(client) == secret  # the pending secret is kept across attempts
    db.session.refresh(alice)
    assert alice.totp_enabled_at is not None
    [enrolled] = audit_entries(db, "totp.enrolled", alice.id)
    assert enrolled.actor_id == alice.id
    secret_entries = audit_entries(db, "update", alice.id)
    assert all(e.new_value != secret for e in secret_entries)  # the secret never enters the trail
    assert client.get("/account/totp").status_code == 302  # already enrolled
    logout(client)

    for code in ("", wrong_code(secret)):
        response = login(client, "alice", totp=code)
        assert LOGIN_FAILED in response.get_data(as_text=True)
        assert not is_signed_in(client)
    assert audit_entries(db, "login.failed", alice.id)[-1].new_value == "totp"
    # The code used for enrolment cannot be replayed; the next time step's code is accepted.
    db.session.refresh(alice)
    used_step = alice.totp_last_step
    replay = login(client, "alice", totp=pyotp.TOTP(secret).at(used_step * 30))
    assert LOGIN_FAILED in replay.get_data(as_text=True)
    assert not is_signed_in(client)
    next_code = pyotp.TOTP(secret).at((used_step + 1) * 30)
    assert login(client, "alice", totp=next_code).status_code == 302
    assert is_signed_in(client)
    logout(client)
    assert LOGIN_FAILED in login(client, "alice", totp=next_code).get_data(as_text=True)


class TestTotpRequiredRoles:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"TOTP_REQUIRED_ROLES": ["qa_manager"]}

    @pytest.mark.req("E6-20")
    def test_role_holders_must_enrol_before_anything_else(self, app, client, make_user, login):
        make_user("quinn", "qa_manager")
        make_user("arthur", "author")
        login(client, "quinn")
        for path in ("/admin/", "/admin/core_users/", "/admin/core_audit/"):
            response = client.get(path)
            assert response.status_code == 302
            assert response.headers["Location"] == "/account/totp"
        secret = enrol_totp(client)
        assert is_signed_in(client)
        logout(client)
        assert LOGIN_FAILED in login(client, "quinn").get_data(as_text=True)
        next_code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment code is spent
        assert login(client, "quinn", totp=next_code).status_code == 302
        assert is_signed_in(client)

        other = app.test_client()
        login(other, "arthur")
        assert is_signed_in(other)  # the rule binds roles, not everyone

"""Attempt limits on sign-in, token issue and signing (issue 13): refused past the limit with 429
and Retry-After, the refused attempt not even checked; with Redis, shared by several nodes."""

from __future__ import annotations

import secrets

import pytest

from config import ConfigError, load_config
from core.db import db
from core.errors import AuthenticationFailed, RateLimited
from core.signatures.service import attest
from core.testing import DEFAULT_PASSWORD, csrf_token, redis_url
from core.users.service import get_user

API = "/api/v1"
pytestmark = pytest.mark.plugins()


@pytest.fixture
def app_config() -> dict:
    return {"SIGN_IN_RATE_LIMIT": "3 per minute", "TOKEN_RATE_LIMIT": "2 per minute",
            "SIGNING_RATE_LIMIT": "2 per minute"}


def sign_in(client, username: str, password: str, address: str = "10.9.8.7"):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password, "totp": ""},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.req("SEC-13")
def test_sign_in_attempts_past_the_limit_are_refused_unchecked(app, client, make_user):
    make_user("alice")
    for _ in range(3):
        assert sign_in(client, "alice", "wrong").status_code == 200  # re-shown: wrong password
    refused = sign_in(client, "alice", DEFAULT_PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts. Try again in " in refused.get_data(as_text=True)
    assert get_user("alice").failed_logins == 3  # the refused attempt was not checked
    # Another address is counted on its own.
    assert sign_in(client, "alice", DEFAULT_PASSWORD, address="10.9.8.8").status_code == 302


@pytest.mark.req("SEC-13")
def test_token_requests_past_the_limit_get_429_problem_json(app, client, make_user):
    make_user("alice")
    for _ in range(2):
        assert client.post(f"{API}/auth/tokens", json={"username": "alice", "password": "x"}
                           ).status_code == 401
    refused = client.post(f"{API}/auth/tokens", json={"username": "alice",
                                                      "password": DEFAULT_PASSWORD})
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["title"] == "Too many attempts"
    assert body["detail"].startswith("Too many token attempts. Try again in ")
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.req("SEC-13")
def test_signing_attempts_are_limited_per_user(app, make_user):
    make_user("bob")
    bob = get_user("bob")
    for _ in range(2):
        with pytest.raises(AuthenticationFailed) as wrong:
            attest(bob, "not the password")
        assert not isinstance(wrong.value, RateLimited)
        bob = get_user("bob")
    with pytest.raises(RateLimited, match="Too many signing attempts"):
        attest(bob, DEFAULT_PASSWORD)
    db.session.rollback()
    assert get_user("bob").failed_logins == 2


@pytest.mark.parametrize(("key", "value", "message"), [
    ("CQMS_SIGN_IN_RATE_LIMIT", "lots", "SIGN_IN_RATE_LIMIT: expected a limit such as"),
    ("CQMS_RATE_LIMIT_STORAGE_URL", "bogus://x", "RATE_LIMIT_STORAGE_URL: "),
])
def test_bad_limit_settings_stop_start_up_with_one_line(key, value, message):
    with pytest.raises(ConfigError) as info:
        load_config(environ={key: value})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_two_nodes_on_one_redis_share_the_count(app_factory):
    url = redis_url()
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    nodes = [app_factory(RATE_LIMIT_STORAGE_URL=url, TOKEN_RATE_LIMIT="3 per minute")
             for _ in range(2)]
    clients = [node.test_client() for node in nodes]

    def ask(client):
        return client.post(f"{API}/auth/tokens", json={"username": "nobody", "password": "x"},
                           environ_base={"REMOTE_ADDR": address}).status_code

    assert [ask(clients[0]), ask(clients[1]), ask(clients[0])] == [401, 401, 401]
    assert ask(clients[1]) == 429  # the fourth, on the other node

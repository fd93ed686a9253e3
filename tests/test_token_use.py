"""A read stays a read: using an API token records its last use on a connection and in a
transaction of its own, coarsely, never in the request's transaction (issue 13, cheap reads).
On SQLite a read transaction upgraded to a write fails when another writer committed meanwhile
("database is locked" 500s under load)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from core import utcnow
from core.db import db
from core.testing import DEFAULT_PASSWORD
from core.users.models import ApiToken
from core.users.tokens import USE_RECORDED_EVERY

pytestmark = pytest.mark.backends("sqlite", "postgresql")
API = "/api/v1"


def _token(client, make_user) -> tuple[str, int]:
    make_user("alice", "author")
    body = client.post(f"{API}/auth/tokens", json={"username": "alice", "name": "ETL",
                                                   "password": DEFAULT_PASSWORD}).get_json()
    token_id = db.session.scalar(text("SELECT max(id) FROM core_api_token"))
    db.session.rollback()  # the test holds no transaction while the app serves requests
    return body["token"], token_id


def _last_used(token_id: int):  # type: ignore[no-untyped-def]
    db.session.rollback()
    used = db.session.get(ApiToken, token_id).last_used_at
    db.session.rollback()
    return used


def _writes_in_request_sessions(app):  # type: ignore[no-untyped-def]
    """UPDATE/INSERT/DELETE statements run through the request's ORM session."""
    seen: list[str] = []

    def spy(orm_execute_state):  # type: ignore[no-untyped-def]
        if not orm_execute_state.is_select:
            seen.append(str(orm_execute_state.statement))

    event.listen(db.session, "do_orm_execute", spy)
    return seen, lambda: event.remove(db.session, "do_orm_execute", spy)


def test_a_get_with_a_token_records_its_use_outside_the_request(app, client, make_user):
    secret, token_id = _token(client, make_user)
    assert _last_used(token_id) is None
    seen, stop = _writes_in_request_sessions(app)
    try:
        before = utcnow()
        response = client.get(f"{API}/auth/tokens", headers={"Authorization": f"Bearer {secret}"})
    finally:
        stop()
    assert response.status_code == 200
    assert seen == []  # the request's own transaction wrote nothing
    used = _last_used(token_id)
    assert used is not None and used >= before - timedelta(seconds=1)


def test_use_is_recorded_coarsely_once_per_interval(app, client, make_user):
    secret, token_id = _token(client, make_user)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{API}/auth/tokens", headers=headers).status_code == 200
    first = _last_used(token_id)
    assert client.get(f"{API}/auth/tokens", headers=headers).status_code == 200
    assert _last_used(token_id) == first  # within the interval: no write at all
    # Another process recorded an older use long ago: this one writes again once due.
    stale = utcnow() - USE_RECORDED_EVERY - timedelta(minutes=1)
    db.session.execute(text("UPDATE core_api_token SET last_used_at = :at WHERE id = :id"),
                       {"at": stale, "id": token_id})
    db.session.commit()
    app.extensions["cqms"].token_uses.clear()  # as in a newly started process
    assert client.get(f"{API}/auth/tokens", headers=headers).status_code == 200
    assert _last_used(token_id) > first


def test_a_refused_token_records_no_use(app, client, make_user):
    secret, token_id = _token(client, make_user)
    db.session.execute(text("UPDATE core_api_token SET revoked_at = :at WHERE id = :id"),
                       {"at": utcnow(), "id": token_id})
    db.session.commit()
    response = client.get(f"{API}/auth/tokens", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert _last_used(token_id) is None

"""Read-only mode (Annex 11 §16): sign in, read and export; every change refused, nothing lost."""

from __future__ import annotations

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core import create_record, update_record
from core.audit.models import AuditEntry
from core.db import db
from core.read_only import ReadOnlyError
from core.records.models import Record
from core.testing import DEFAULT_PASSWORD, login, post_with_token

pytestmark = pytest.mark.req("A11-16")
URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def read_only_app(app, app_factory, make_user):
    alice = make_user("alice", "author")
    widget_id = create_record("acme_widget", alice, title="Pump", description="Blue").id
    db.session.commit()
    issued = app.test_client().post("/api/v1/auth/tokens", json={
        "username": "alice", "password": DEFAULT_PASSWORD})
    assert issued.status_code == 201, issued.get_json()
    db.session.close()  # on SQLite the other app needs the database unlocked
    plugin = app.extensions["cqms"].host.plugins["acme"].module
    frozen = app_factory(plugins=["acme"], extra_plugins={"acme": plugin}, schema=False,
                         READ_ONLY=True)
    frozen.widget_id = widget_id
    frozen.token = issued.get_json()["token"]
    return frozen


def _counts():
    return (db.session.scalar(select(func.count()).select_from(Record)),
            db.session.scalar(select(func.max(AuditEntry.id))))


@pytest.mark.backends("sqlite", "postgresql")
def test_in_read_only_mode_people_sign_in_read_and_export_but_change_nothing(read_only_app):
    client = read_only_app.test_client()
    with read_only_app.app_context():
        records_before, _ = _counts()
        assert login(client, "alice").status_code == 302  # sign-in still works
        page = client.get(f"{URL}details/?id={read_only_app.widget_id}")
        assert page.status_code == 200 and "Pump" in page.get_data(as_text=True)
        assert 'id="read-only-banner"' in page.get_data(as_text=True)
        exported = post_with_token(client, f"{URL}{read_only_app.widget_id}/export.pdf")
        assert exported.status_code in (200, 503)  # 503 only where Pango is missing
        _, last_entry = _counts()

        api = read_only_app.test_client()
        bearer = {"Authorization": f"Bearer {read_only_app.token}"}
        url = f"/api/v1/records/acme_widget/{read_only_app.widget_id}"
        read = api.get(url, headers=bearer)
        assert read.status_code == 200  # an existing token still reads
        refused = api.patch(url, json={"title": "Renamed", "reason": "try"},
                            headers={**bearer, "If-Match": read.headers["ETag"]})
        assert refused.status_code == 503
        assert refused.mimetype == "application/problem+json"
        assert "read-only mode" in refused.get_json()["detail"]
        form = post_with_token(client, f"{URL}new/", data={"title": "New", "description": "x"})
        assert form.status_code in (200, 503)
        assert "read-only mode" in form.get_data(as_text=True)
        db.session.rollback()
        assert _counts() == (records_before, last_entry)


def test_services_and_plain_orm_writes_are_refused_below_every_view(read_only_app):
    with read_only_app.app_context():
        from core.users.models import User

        alice = db.session.scalar(select(User).where(User.username == "alice"))
        widget = db.session.get(Record, read_only_app.widget_id)
        with pytest.raises(ReadOnlyError):
            update_record(widget, alice, expected_version=widget.version, title="Renamed")
        db.session.rollback()
        with pytest.raises(ReadOnlyError):
            create_record("acme_widget", alice, title="Another", description="x")
        db.session.rollback()
        widget = db.session.get(Record, read_only_app.widget_id)
        widget.title = "Plain ORM"
        with pytest.raises(ReadOnlyError):
            db.session.flush()
        db.session.rollback()
        assert db.session.get(Record, read_only_app.widget_id).title == "Pump"

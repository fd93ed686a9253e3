"""The OpenAPI document tells what the API really does: attachment downloads are files of their
own media type (not JSON), list cursors are explained where they are passed, and the token
lifetime accepts a whole number of days however JSON writes it (30 or 30.0)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from kernel_plugin import make_plugin

from core import add_attachment, create_record
from core.db import db
from core.testing import DEFAULT_PASSWORD
from core.users.service import get_user

API = "/api/v1"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CONTENT = "/api/v1/records/{type_key}/{record_id}/attachments/{attachment_id}/content"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["documents", "training", "capa", "audits", "acme"],
            "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def spec(client):
    return client.get(f"{API}/openapi.json").get_json()


def issue(client, **extra):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/auth/tokens", json={"username": "alice",
                                                   "password": DEFAULT_PASSWORD, **extra})


def test_attachment_downloads_are_documented_as_files_of_their_own_type(client, spec,
                                                                        make_user):
    ok = spec["paths"][CONTENT]["get"]["responses"]["200"]
    assert "application/json" not in ok["content"]
    [(media_type, body)] = ok["content"].items()
    assert media_type == "*/*" and body["schema"] == {"type": "string", "format": "binary"}
    assert "media_type" in ok["description"]
    assert "Content-Disposition" in ok["headers"]
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Pump")
    attachment = add_attachment(record, alice, "spec.pdf", io.BytesIO(PDF))
    db.session.commit()
    token = issue(client).get_json()["token"]
    response = client.get(CONTENT.format(type_key="acme_widget", record_id=record.id,
                                         attachment_id=attachment.id),
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == PDF


def test_every_cursor_parameter_says_how_to_page(spec):
    cursors = [(path, parameter) for path, operations in spec["paths"].items()
               for method, operation in operations.items() if method == "get"
               for parameter in operation.get("parameters", ())
               if parameter["name"] == "after" and parameter["in"] == "query"]
    assert len(cursors) >= 5
    for path, parameter in cursors:
        assert "`next`" in parameter.get("description", ""), path
    records = [p for path, p in cursors if path == "/api/v1/records/{type_key}"]
    assert "opaque" in records[0]["description"] and "400" in records[0]["description"]


@pytest.mark.req("SEC-13", "A11-04")
@pytest.mark.backends("sqlite", "postgresql")
def test_token_lifetime_takes_whole_days_written_either_way(client, spec, make_user, app):
    make_user("alice", "author")
    response = issue(client, expires_in_days=30.0)
    assert response.status_code == 201, response.get_json()
    expires = datetime.fromisoformat(response.get_json()["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    too_long = issue(client, expires_in_days=390.0)  # as 390: over the deployment's maximum
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"] == {
        "expires_in_days": [f"Choose 1 to {app.config['API_TOKEN_MAX_DAYS']} days."]}
    for wrong in (30.5, "30", True, 1e400, float("nan")):
        refused = issue(client, expires_in_days=wrong)
        assert refused.status_code in (400, 422), (wrong, refused.get_json())
        if refused.status_code == 422:
            assert "expires_in_days" in refused.get_json()["errors"], wrong
    documented = spec["components"]["schemas"]["TokenRequest"]["properties"]["expires_in_days"]
    assert "30.0" in documented["description"] and "API_TOKEN_MAX_DAYS" in documented["description"]
    assert get_user("alice").failed_logins == 0

"""Record forms say what they need (issue 15): the reason is marked required on the edit form
once the record is past draft (and the browser asks for it), optional in draft; the server
still refuses a change without one, re-showing the form and changing nothing."""

from __future__ import annotations

import re

import pytest
from kernel_plugin import make_plugin

from core import create_record, transition
from core.db import db
from core.testing import csrf_token

URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


def _reason_input(html: str) -> str:
    return re.search(r'<textarea[^>]*name="reason"[^>]*>', html).group(0)


def test_the_reason_is_marked_required_past_draft(client, login, app, make_user):
    alice = make_user("alice", "author")
    widget = create_record("acme_widget", alice, title="Pump", description="Blue")
    db.session.commit()
    login(client, "alice")
    draft_form = client.get(f"{URL}edit/?id={widget.id}").get_data(as_text=True)
    assert "required" not in _reason_input(draft_form)

    transition(widget, "submit", alice)
    db.session.commit()
    form = client.get(f"{URL}edit/?id={widget.id}").get_data(as_text=True)
    assert "required" in _reason_input(form)
    assert "Required: why the record changes" in form
    refused = client.post(f"{URL}edit/?id={widget.id}", data={
        "csrf_token": csrf_token(client, f"{URL}edit/?id={widget.id}"), "title": "Pump",
        "description": "Red", "expected_version": str(widget.version), "reason": ""})
    assert refused.status_code == 200 and "a reason for the change is required" in \
        refused.get_data(as_text=True)
    db.session.expire_all()
    assert widget.description == "Blue"

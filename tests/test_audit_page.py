"""The audit page in business terms (issue 15): what each entry is about by record number and
title, events picked from the catalogue, and the whole trail's integrity check that QA and
administrators start from the page: run as a job, audited, its report kept for them."""

from __future__ import annotations

import re

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select, text

from core import create_record
from core.audit.models import AuditEntry
from core.db import db
from core.testing import csrf_token, job_file, triggers_bypassed

URL = "/admin/core_audit/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widget(app, make_user):
    alice = make_user("alice", "author")
    make_user("quinn", "qa_manager", "approver")  # approver: may read widgets
    record = create_record("acme_widget", alice, title="Pump", description="Blue")
    db.session.commit()
    return record


def test_entries_name_their_record_and_events_come_from_the_catalogue(client, login, widget):
    login(client, "quinn")
    html = client.get(URL, query_string={"record": widget.number}).get_data(as_text=True)
    assert re.search(rf"<td>\s*{widget.number} Pump</td>", html)
    assert "acme_widget" not in re.sub(r'data-entity="[a-z_]+"', "", html.split("<tbody>")[1])
    assert '<option value="record.verified">Integrity checked</option>' in html
    created = client.get(URL, query_string={"action": "create", "record": widget.number})
    assert created.status_code == 200 and "<td>Description</td>" in created.get_data(
        as_text=True)


@pytest.mark.req("P11-01")
def test_qa_checks_the_whole_trail_from_the_page(client, login, widget):
    login(client, "quinn")
    assert 'id="check-trail"' in client.get(URL).get_data(as_text=True)
    started = client.post(URL + "check", data={"csrf_token": csrf_token(client, URL)})
    report = job_file(client, started)
    assert report.status_code == 200 and report.mimetype == "text/plain"
    assert report.get_data(as_text=True).startswith("OK: ")
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.verified"))
    assert entry.new_value.startswith("OK: ") and entry.actor_name.startswith("Quinn")

    edited = db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.entity_id == str(widget.id), AuditEntry.field == "description"))
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(text("UPDATE core_audit_entry SET new_value = 'Red' WHERE id = :id"),
                     {"id": edited})
    started = client.post(URL + "check", data={"csrf_token": csrf_token(client, URL)})
    failed = job_file(client, started).get_data(as_text=True)
    assert failed.startswith("FAILED: ") and f"seq {edited}" in failed


def test_only_holders_of_the_check_permission_start_it(client, login, widget, make_user):
    login(client, "alice")  # an author: no audit page at all
    token = csrf_token(client, "/admin/")
    assert client.post(URL + "check", data={"csrf_token": token}).status_code == 403



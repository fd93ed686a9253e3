"""The record page as a person reads it (issue 15): a header with the state in words and the
next step for this viewer, the business fields only, actions this viewer can take now (or what
stands in the way), history as one line per event, and an Integrity panel whose "Verify this
record" check is audited and finds tampering below the application."""

from __future__ import annotations

import re

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select, text

from core import create_record, update_record
from core.audit.models import AuditEntry
from core.db import db
from core.testing import csrf_token, triggers_bypassed

URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widget(app, make_user):
    alice = make_user("alice", "author")
    make_user("bob", "approver")
    record = create_record("acme_widget", alice, title="Pump", description="")
    db.session.commit()
    update_record(record, alice, expected_version=record.version, description="Blue pump")
    db.session.commit()
    return record


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def visible(html: str) -> str:
    """The page's text as shown (tags and the collapsed panels' markup left out)."""
    body = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@pytest.mark.req("DI-L")
def test_the_page_reads_in_business_words(client, login, widget):
    login(client, "alice")
    html = page_text(client.get(f"{URL}details/?id={widget.id}"))
    shown = visible(html)
    assert 'id="record-state" title="State">Draft<' in html
    assert "Next step for you: You can: Submit." in shown
    assert "Description" in shown and "Blue pump" in shown
    for internal in ("acme_widget", "content_hash", "Content Hash", "Attachments Digest",
                     "updated_by_id"):
        assert internal not in shown, internal
    events = re.findall(r'<li class="border-bottom py-1 history-event">(.*?)</li>\s*(?=<li|</ol)',
                        html, flags=re.S)
    assert len(events) == 2  # the creation and the change, not a row per column
    assert "changed " in events[0] and "Description: (empty) &rarr; Blue pump" in events[0]
    assert "created " in events[1]
    assert 'id="integrity"' in html and widget.content_hash in html  # in the panel
    assert 'id="audit-entries"' in html  # the raw rows, one click away


def test_an_action_shows_what_stands_in_its_way(client, login, make_user, app):
    alice = make_user("alice", "author")
    empty = create_record("acme_widget", alice, title="Valve", description="")
    db.session.commit()
    login(client, "alice")
    html = page_text(client.get(f"{URL}details/?id={empty.id}"))
    assert "Not yet: the description is empty" in html
    assert f'action="{URL}{empty.id}/transition/submit"' in html
    assert "Waiting: the description is empty" in visible(html)
    form = html.split('id="transition-submit"')[1].split("</form>")[0]
    assert 'type="submit"' not in form  # no button to press while it cannot work


def test_a_signed_step_is_labelled_as_an_e_signature(client, login, widget, make_user):
    login(client, "alice")
    token = csrf_token(client, URL)
    client.post(f"{URL}{widget.id}/transition/submit", data={"csrf_token": token})
    approver = client.application.test_client()
    login(approver, "bob")
    html = page_text(approver.get(f"{URL}details/?id={widget.id}"))
    assert ">Approve (e-signature)</button>" in html and "Sign and" not in html
    assert "In review" in html


@pytest.mark.req("P11-01")
def test_verify_this_record_is_audited_and_finds_an_edited_history_entry(
        client, login, widget):
    login(client, "alice")
    page = f"{URL}details/?id={widget.id}"

    def verify():  # type: ignore[no-untyped-def]
        token = csrf_token(client, page)
        return page_text(client.post(f"{URL}{widget.id}/verify", data={"csrf_token": token},
                                     follow_redirects=True))

    assert f"{widget.number} is intact" in verify()
    [check] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "record.verified", AuditEntry.entity_id == str(widget.id)))
    assert check.new_value.startswith("intact") and check.actor_name.startswith("Alice")
    edited = db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.entity_id == str(widget.id), AuditEntry.field == "description",
        AuditEntry.action == "update"))
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(text("UPDATE core_audit_entry SET new_value = 'Red pump' WHERE id = :id"),
                     {"id": edited})
    result = verify()
    assert f"{widget.number} failed its integrity check" in result
    assert f"History entry {edited} (description) was edited" in result


@pytest.mark.req("P11-01")
def test_verify_this_record_finds_content_changed_in_sql(client, login, widget):
    widget_id = widget.id
    db.session.commit()
    with triggers_bypassed("acme_widget") as conn:
        conn.execute(text("UPDATE acme_widget SET description = 'Forged' WHERE id = :id"),
                     {"id": widget_id})
    login(client, "alice")
    page = f"{URL}details/?id={widget_id}"
    result = page_text(client.post(f"{URL}{widget_id}/verify", data={
        "csrf_token": csrf_token(client, page)}, follow_redirects=True))
    assert "content does not match its content hash" in result

"""Real-browser flow of the work layer: an approver lands on My tasks, opens the task, signs
the approval in the record page's sign dialog; the task is gone and the manifestation shows."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from kernel_plugin import make_plugin
from playwright.sync_api import expect

from core import close_tasks, create_record, open_task, transition
from core.db import db
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser


def review_tasks(record, transition, user):  # type: ignore[no-untyped-def]
    """The plugin's reaction to its workflow (as the plugin author guide shows)."""
    if transition.name == "submit":
        open_task(record, "acme.approve", f"Approve {record.number}", role="approver",
                  due=date.today() + timedelta(days=5), action="approve", by=user)
    elif transition.name in ("approve", "reject"):
        close_tasks(record, kind="acme.approve", by=user)
    db.session.commit()


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {
        "acme": make_plugin(temp_plugin, record_transitioned=review_tasks)}}


@pytest.mark.req("P11-15", "P11-16", "P11-12")
def test_approver_signs_from_my_tasks(page, live_server, make_user):
    alice = make_user("alice", "author", full_name="Alice Author")
    make_user("bob", "approver", full_name="Bob Approver")
    widget = create_record("acme_widget", alice, title="Infusion pump", description="Blue")
    db.session.commit()
    number = widget.number
    transition(widget, "submit", alice)
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock

    page.goto(f"{live_server}/login")
    page.fill("#username", "bob")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#login-form button[type=submit]")
    my_tasks = page.locator("#my-tasks-table")
    expect(my_tasks).to_contain_text(f"Approve {number}")
    my_tasks.locator("a.task-action").first.click()

    expect(page.locator("#record-state")).to_have_text("In review")
    dialog = page.locator("#transition-approve")
    dialog.locator("input[name=attest]").check()  # the first signature: attestation
    dialog.locator("input[name=username]").fill("bob")  # first of the session: all components
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("textarea[name=comment]").fill("Checked against the specification")
    dialog.locator("button[type=submit]").click()

    expect(page.locator("body")).to_contain_text(f"{number}: approve done.")
    expect(page.locator("#record-state")).to_have_text("Approved")
    row = page.locator("#signatures tbody tr").first
    expect(row).to_contain_text("Bob Approver (bob)")
    expect(row).to_contain_text("Approved by")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))

    page.goto(f"{live_server}/admin/")
    expect(page.locator("#my-tasks-table")).not_to_contain_text(f"Approve {number}")
    expect(page.locator("#my-tasks-table")).to_contain_text("No open tasks.")
    blocked_inline = ("Executing inline event handler", "Running the JavaScript URL")
    assert [e for e in page.console_errors if not e.startswith(blocked_inline)] == []

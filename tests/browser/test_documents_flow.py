"""Real-browser flow of document control: an author creates a document and its first version,
uploads the PDF and submits; a reviewer signs the review; an approver signs the approval in the
sign dialog; QA makes the version effective on its planned date (today). A trainee then sees
the effective version only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from browser_helpers import enter_user_name, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from core.testing import DEFAULT_PASSWORD
from plugins.documents.models import DocumentVersion
from plugins.documents.services import seed_types

pytestmark = [pytest.mark.browser, pytest.mark.plugins("documents")]
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BLOCKED_INLINE = ("Executing inline event handler", "Running the JavaScript URL")


def sign_out(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))


def sign(page, name: str, comment: str) -> None:  # type: ignore[no-untyped-def]
    dialog = page.locator(f"#transition-{name}")
    dialog.locator("input[name=attest]").check()  # the first signature: attestation
    enter_user_name(page, dialog)
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("textarea[name=comment]").fill(comment)
    dialog.locator("button[type=submit]").click()


@pytest.mark.req("ISO-01", "ISO-03", "ISO-04", "P11-15", "P11-16")
def test_a_sop_goes_from_draft_to_effective_in_the_browser(page, live_server, make_user,
                                                           system_actor):
    make_user("alice", "author", full_name="Alice Author")
    make_user("rita", "reviewer", full_name="Rita Reviewer")
    make_user("bob", "approver", full_name="Bob Approver")
    make_user("quinn", "qa_manager", full_name="Quinn Quality")
    make_user("tina", "trainee", full_name="Tina Trainee")
    seed_types()
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock
    today = datetime.now(UTC).date().isoformat()

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/admin/documents_document/new/")
    page.fill("#title", "Cleaning of the -80 °C freezer")
    page.select_option("#document_type", label="SOP Standard operating procedure", force=True)
    page.fill("#description", "Monthly defrost and cleaning")
    page.locator("form.admin-form button[type=submit], form.admin-form input[type=submit]") \
        .first.click()
    expect(page.locator("body")).to_contain_text("SOP-0001")

    page.goto(f"{live_server}/admin/documents_version/new/")
    page.fill("#title", "Cleaning of the -80 °C freezer")
    page.select_option("#document", index=0, force=True)  # select2 hides the select
    page.fill("#planned_effective_date", today)
    page.set_input_files("#file", files=[{  # the file comes with the new version
        "name": "SOP-0001-v1.0.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.locator("form.admin-form button[type=submit], form.admin-form input[type=submit]") \
        .first.click()
    expect(page.locator("body")).to_contain_text("SOP-0001-v1.0")
    version_id = db.session.scalar(select(DocumentVersion.id))
    db.session.commit()
    details = f"{live_server}/admin/documents_version/details/?id={version_id}"

    page.goto(details)
    expect(page.locator("#record-state")).to_have_text("Draft")
    expect(page.locator("#attachments")).to_contain_text("SOP-0001-v1.0.pdf")
    page.locator("#open-submit").click()  # reviewers and due date chosen at submission
    page.check("#reviewer-rita")
    page.fill("#review_due", today)
    page.locator("#submit-version").click()
    expect(page.locator("body")).to_contain_text(
        f"SOP-0001-v1.0 submitted for review: 1 named reviewer, due {today}.")
    expect(page.locator("#record-state")).to_have_text("In review")
    sign_out(page, live_server)

    sign_in(page, live_server, "rita")
    page.goto(details)
    sign(page, "review", "Steps match the freezer manual")
    expect(page.locator("body")).to_contain_text("SOP-0001-v1.0: Sign the review done.")
    expect(page.locator("#signatures")).to_contain_text("Rita Reviewer (rita)")
    sign_out(page, live_server)

    sign_in(page, live_server, "bob")
    page.goto(details)
    sign(page, "approve", "Approved for use")
    expect(page.locator("body")).to_contain_text("SOP-0001-v1.0: Approve done.")
    expect(page.locator("#record-state")).to_have_text("Approved")
    row = page.locator("#signatures tbody tr", has_text="Bob Approver (bob)")
    expect(row).to_contain_text("Approved by")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    sign_out(page, live_server)

    sign_in(page, live_server, "quinn")
    page.goto(details)
    page.locator("#transition-make_effective button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("SOP-0001-v1.0: Make effective done.")
    expect(page.locator("#record-state")).to_have_text("Effective")
    expect(page.locator("#record-badge")).to_have_count(0)
    sign_out(page, live_server)

    sign_in(page, live_server, "tina")
    page.goto(f"{live_server}/admin/documents_version/")
    expect(page.locator("body")).to_contain_text("SOP-0001-v1.0")
    assert [e for e in page.console_errors if not e.startswith(BLOCKED_INLINE)] == []

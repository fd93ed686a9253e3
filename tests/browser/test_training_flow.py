"""Real-browser flow of read-and-understood training: an effective SOP is in the trainee's
curriculum; the trainee opens My training, reads the SOP's controlled copy and signs read and
understood in the form; a QA manager then sees the trainee's cell for that SOP as current in the
training matrix."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from browser_helpers import enter_user_name, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from core import SignatureRequest, add_attachment, attest, audit_reason, create_record, transition
from core.audit.models import AuditEntry
from core.db import db
from core.testing import DEFAULT_PASSWORD
from plugins.documents.services import create_document, create_version, seed_types
from plugins.training.models import TrainingAssignment, TrainingRequirement

pytestmark = [pytest.mark.browser, pytest.mark.plugins("documents", "training")]
SHOTS = Path("/tmp")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BLOCKED_INLINE = ("Executing inline event handler", "Running the JavaScript URL")


def sign_out(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))


def step(record, name, user, **kwargs):  # type: ignore[no-untyped-def]
    transition(record, name, user, **kwargs)
    db.session.commit()


def effective_sop(people):  # type: ignore[no-untyped-def]
    seed_types()
    db.session.commit()
    document = create_document(people["alice"], title="Handling of investigational product",
                               type_code="SOP")
    db.session.commit()
    version = create_version(document, people["alice"])
    db.session.commit()
    add_attachment(version, people["alice"], "sop.pdf", io.BytesIO(PDF))
    db.session.commit()
    signature = SignatureRequest(password=DEFAULT_PASSWORD)
    step(version, "submit", people["alice"])
    step(version, "review", people["rita"], signature=signature)
    step(version, "approve", people["bob"], signature=signature)
    step(version, "make_effective", people["quinn"])
    return document


@pytest.mark.req("ISO-10", "E6-10", "P11-16")
def test_trainee_reads_and_signs_then_the_matrix_shows_current(page, live_server, make_user,
                                                               system_actor):
    people = {name: make_user(name, *roles, full_name=full) for name, roles, full in (
        ("alice", ("author",), "Alice Author"), ("rita", ("reviewer",), "Rita Reviewer"),
        ("bob", ("approver",), "Bob Approver"), ("quinn", ("qa_manager",), "Quinn Quality"),
        ("tina", ("trainee",), "Tina Trainee"))}
    for name in ("rita", "bob", "quinn"):
        attest(people[name], DEFAULT_PASSWORD)
    db.session.commit()
    document = effective_sop(people)
    with audit_reason("test set-up"):
        db.session.add(TrainingRequirement(code="SOP-IP", kind="document", document_id=document.id,
                                           title="Handling of investigational product"))
        db.session.flush()
    db.session.commit()
    curriculum = create_record("training_curriculum", people["quinn"], title="Trainees",
                               role_key="trainee", requirement_codes="SOP-IP")
    db.session.commit()
    step(curriculum, "approve", people["quinn"], signature=SignatureRequest(DEFAULT_PASSWORD))
    assignment = db.session.scalar(select(TrainingAssignment).where(
        TrainingAssignment.trainee_id == people["tina"].id))
    assert assignment is not None and assignment.state == "assigned"
    assignment_id = assignment.id
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock

    sign_in(page, live_server, "tina")
    page.goto(f"{live_server}/training/my")
    card = page.locator(f"#assignment-{assignment_id}")
    expect(card).to_contain_text("SOP-IP")
    expect(page.locator(f"#status-{assignment_id}")).to_have_text("due")
    with page.context.expect_event(
            "response", lambda r: "/documents/versions/" in r.url) as opened:
        page.click(f"#read-{assignment_id}")  # the controlled copy, in a new tab
    response = opened.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    for other in page.context.pages[1:]:
        other.close()
    page.screenshot(path=str(SHOTS / "training-my-before-signing.png"), full_page=True)
    form = page.locator(f"#sign-{assignment_id}")
    form.locator("input[name=attest]").check()
    enter_user_name(page, form)
    form.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    form.locator("textarea[name=comment]").fill("Read the controlled copy")
    form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("read and understood, signed by Tina Trainee")
    expect(page.locator("#no-open-training")).to_be_visible()
    expect(page.locator("#completed-training")).to_contain_text("SOP-IP")
    page.screenshot(path=str(SHOTS / "training-my.png"), full_page=True)
    db.session.expire_all()
    assert db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.action == "export", AuditEntry.field == "document_pdf")) is not None
    db.session.commit()  # end the read: the server writes the sign-out
    sign_out(page, live_server)

    sign_in(page, live_server, "quinn")
    page.goto(f"{live_server}/admin/training_matrix/")
    expect(page.locator("#cell-tina-SOP-IP")).to_have_text(re.compile(r"^\s*current"))
    expect(page.locator("#compliance-tina")).to_have_text("1/1")
    page.screenshot(path=str(SHOTS / "training-matrix.png"), full_page=True)

    page.click("#export-matrix-csv")  # queued as a job: the page follows its progress
    expect(page.locator("h1")).to_contain_text("Training matrix (CSV), everyone in your scope")
    expect(page.locator("#job-state")).to_contain_text("Ready", timeout=30_000)
    page.screenshot(path=str(SHOTS / "training-matrix-export.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#job-download")
    assert download.value.suggested_filename == "training-matrix.csv"
    assert "tina,Tina Trainee,1,1,current" in Path(download.value.path()).read_text()
    assert [e for e in page.console_errors if not e.startswith(BLOCKED_INLINE)] == []

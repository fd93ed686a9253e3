"""The documents plugin in the admin: document types, and documents and versions on the core's
record pages (create, attach, every transition, signing dialogs, refusals)."""

from __future__ import annotations

import io
import re

import pytest
from documents_helpers import PDF, people, seeded
from sqlalchemy import select

from core import db
from core.testing import DEFAULT_PASSWORD, csrf_token
from plugins.documents.models import Document, DocumentType, DocumentVersion

pytestmark = pytest.mark.plugins("documents")
DOCS = "/admin/documents_document/"
VERSIONS = "/admin/documents_version/"


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def as_user(client, login, username):  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_token(client, VERSIONS)})
    login(client, username)


def act(client, record_id, name, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client, VERSIONS)
    page = client.post(f"{VERSIONS}{record_id}/transition/{name}",
                       data={"csrf_token": token, **data}, follow_redirects=True)
    return page.get_data(as_text=True)


def sop_type_id() -> int:
    return db.session.scalar(select(DocumentType.id).where(DocumentType.code == "SOP"))


@pytest.mark.req("ISO-01", "ISO-05", "P11-08", "P11-16")
def test_a_document_goes_through_its_life_cycle_in_the_admin(client, login, team):
    login(client, "alice")
    token = csrf_token(client, DOCS + "new/")
    response = client.post(DOCS + "new/", data={
        "csrf_token": token, "title": "Freezer cleaning", "description": "How to",
        "document_type": str(sop_type_id()), "study": "__None", "site": "__None"})
    assert response.status_code == 302, response.get_data(as_text=True)
    document = db.session.scalar(select(Document))
    assert document.number == "SOP-0001" and document.state == "draft"
    token = csrf_token(client, VERSIONS + "new/")
    response = client.post(VERSIONS + "new/", data={
        "csrf_token": token, "title": "Freezer cleaning", "document": str(document.id),
        "version_label": "", "change_summary": "", "change_reason": "",
        "reviews_required": "1", "study": "__None", "site": "__None"})
    assert response.status_code == 302, response.get_data(as_text=True)
    version = db.session.scalar(select(DocumentVersion))
    assert version.number == "SOP-0001-v1.0"

    assert "has no file" in act(client, version.id, "submit")
    token = csrf_token(client, VERSIONS)
    client.post(f"{VERSIONS}{version.id}/attachments", data={
        "csrf_token": token, "file": (io.BytesIO(PDF), "sop.pdf")},
        content_type="multipart/form-data")
    assert "Submit for review done" in act(client, version.id, "submit")

    as_user(client, login, "rita")
    page = client.get(f"{VERSIONS}details/?id={version.id}").get_data(as_text=True)
    assert 'id="transition-review"' in page and 'id="transition-approve"' not in page
    assert "Sign the review done" in act(client, version.id, "review", username="rita",
                                         password=DEFAULT_PASSWORD)
    as_user(client, login, "alice")
    assert "documents.approve is required" in act(client, version.id, "approve",
                                                  password=DEFAULT_PASSWORD)
    as_user(client, login, "bob")
    assert "Enter your password to sign." in act(client, version.id, "approve")
    assert "password (or code) is not correct" in act(client, version.id, "approve",
                                                      username="bob",
                                                      password="not-the-password-1")
    page = act(client, version.id, "approve", username="bob", password=DEFAULT_PASSWORD,
               comment="Fine")
    assert "Approve done" in page
    signatures = re.search(r'id="signatures">(.*?)</table>', page, re.S).group(1)
    assert "Rita Tester (rita)" in signatures and "Bob Tester (bob)" in signatures
    assert "Reviewed by" in signatures and "Approved by" in signatures and " UTC" in signatures

    as_user(client, login, "alice")  # nothing in an approved version changes
    edit = f"{VERSIONS}edit/?id={version.id}"
    token = csrf_token(client, edit)
    page = client.post(edit, data={
        "csrf_token": token, "title": "Freezer cleaning", "document": str(document.id),
        "version_label": "1.0", "change_summary": "late", "change_reason": "",
        "reviews_required": "1", "study": "__None", "site": "__None",
        "expected_version": str(version.version), "reason": "Late change"},
        follow_redirects=True).get_data(as_text=True)
    assert "never changes" in page
    db.session.expire_all()
    assert db.session.get(DocumentVersion, version.id).change_summary == ""

    as_user(client, login, "quinn")
    assert "Make effective done" in act(client, version.id, "make_effective")
    db.session.expire_all()
    version = db.session.get(DocumentVersion, version.id)
    assert (version.state, version.document.state) == ("effective", "effective")
    assert "Make obsolete done" not in act(client, version.id, "obsolete",
                                           password=DEFAULT_PASSWORD)  # no reason
    page = act(client, version.id, "obsolete", username="quinn", password=DEFAULT_PASSWORD,
               reason="Replaced")
    assert "Make obsolete done" in page
    db.session.expire_all()
    assert db.session.get(Document, document.id).state == "obsolete"


def test_document_types_are_edited_by_managers_only(client, login, team):
    login(client, "alice")
    assert client.get("/admin/documents_type/").status_code == 200  # documents.view may read
    assert client.get("/admin/documents_type/new/").status_code == 403
    as_user(client, login, "quinn")
    token = csrf_token(client, "/admin/documents_type/new/")
    response = client.post("/admin/documents_type/new/", data={
        "csrf_token": token, "code": "MAN", "label": "Manual", "number_prefix": "MAN",
        "review_interval_months": "12", "approver_role": "", "active": "y",
        "reason": "New kind of document"})
    assert response.status_code == 302
    manual = db.session.scalar(select(DocumentType).where(DocumentType.code == "MAN"))
    assert (manual.label, manual.review_interval_months, manual.last_number) == ("Manual", 12, 0)
    page = client.get("/admin/documents_type/").get_data(as_text=True)
    assert "last_number" not in page and "MAN" in page


def test_the_dashboard_card_counts_work_in_progress(client, login, team):
    from documents_helpers import attach, draft, step

    author, *_ = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    draft(author, title="Another")  # a draft is not counted
    login(client, "rita")
    page = client.get("/admin/").get_data(as_text=True)
    card = re.search(r'id="widget-documents_work">(.*?)</section>', page, re.S).group(1)
    assert re.search(r'id="documents-in-review">1<', card)
    assert re.search(r'id="documents-approved">0<', card)

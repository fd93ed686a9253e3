"""Revising from the document's page (issue 15): the document lists its versions, an author
sees Revise, a short form makes the next minor or major draft and opens it; bad input is
re-shown with the message and writes nothing."""

from __future__ import annotations

import pytest
from documents_helpers import attach, draft, people, to_effective
from sqlalchemy import func, select

from core import User, db
from core.testing import csrf_token
from plugins.documents.models import DocumentVersion
from plugins.documents.services import revise, seed_types

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def effective(app, make_user, system_actor):
    seed_types()
    db.session.commit()
    author, reviewer, approver, qa = people(make_user)
    document, version = draft(author)
    to_effective(version, author, reviewer, approver, qa)
    return document, version


def versions() -> int:
    return db.session.scalar(select(func.count()).select_from(DocumentVersion))


def test_the_document_lists_its_versions_and_an_author_revises_it(client, login, effective):
    document, version = effective
    login(client, "alice")
    page = client.get(f"/admin/documents_document/details/?id={document.id}")
    html = page.get_data(as_text=True)
    assert 'id="children-documents_version"' in html and version.number in html
    assert 'id="documents-revise"' in html
    opened = client.post(f"/documents/{document.id}/revise/open",
                         data={"csrf_token": csrf_token(client, "/admin/")})
    assert opened.status_code == 303
    form = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert "Minor: version 1.1" in form and "Major: version 2.0" in form
    token = csrf_token(client, f"/documents/{document.id}/revise")
    before = versions()
    refused = client.post(f"/documents/{document.id}/revise", data={
        "csrf_token": token, "kind": "major", "change_summary": "", "change_reason": "Audit"})
    assert refused.status_code == 422 and "Say what changes." in refused.get_data(as_text=True)
    assert versions() == before
    made = client.post(f"/documents/{document.id}/revise", data={
        "csrf_token": token, "kind": "major", "change_summary": "New cleaning agent",
        "change_reason": "Supplier change", "planned_effective_date": "2027-01-15"})
    assert made.status_code == 302 and "/admin/documents_version/details/" in made.headers[
        "Location"]
    new = db.session.scalars(select(DocumentVersion).order_by(DocumentVersion.id.desc())).first()
    assert (new.version_label, new.state, new.change_summary) == ("2.0", "draft",
                                                                   "New cleaning agent")


def test_who_may_not_create_documents_gets_no_revise(client, login, effective):
    document, _version = effective
    login(client, "rita")  # a reviewer
    html = client.get(f"/admin/documents_document/details/?id={document.id}").get_data(
        as_text=True)
    assert 'id="documents-revise"' not in html
    assert client.get(f"/documents/{document.id}/revise").status_code == 403


def test_two_versions_compare_field_by_field_and_by_text(client, login, effective):
    document, first = effective
    author = User.by_id(first.created_by_id)
    second = revise(document, author, major=False, change_summary="Clearer steps",
                    change_reason="Audit finding")
    db.session.commit()
    attach(second, author, name="sop-v1.1.pdf")
    login(client, "alice")
    html = client.get(f"/admin/documents_document/details/?id={document.id}").get_data(
        as_text=True)
    assert 'id="documents-compare"' in html
    page = client.get(f"/documents/{document.id}/compare")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and first.number in text and second.number in text
    assert '<tr class="table-warning"><th scope="row">What changed' in text
    assert "Clearer steps" in text
    assert client.get(f"/documents/{document.id + 999}/compare").status_code == 404

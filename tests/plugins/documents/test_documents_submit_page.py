"""Submitting a version (issue 15): the record page's "Submit for review" opens a page where the
author picks the named reviewers from the people who may review there and the date the reviews
are due; one transaction names them, sets the date and submits (the review tasks carry it). Bad
input is re-shown with the message and changes nothing. A version's create form takes its file."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from documents_helpers import PDF, attach, draft, people
from sqlalchemy import select

from core import Task, db, utcnow
from core.attachments.service import attachments_of
from core.testing import csrf_token
from plugins.documents import queries
from plugins.documents.services import create_document, name_reviewer, seed_types

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def team(app, make_user, system_actor):
    seed_types()
    db.session.commit()
    found = people(make_user)
    make_user("rhea", "reviewer")
    return found


def _form(client, version):  # type: ignore[no-untyped-def]
    return client.get(f"/documents/versions/{version.id}/submit").get_data(as_text=True)


def _submit(client, version, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/documents/versions/{version.id}/submit")
    return client.post(f"/documents/versions/{version.id}/submit",
                       data={"csrf_token": token, **data})


@pytest.mark.backends("sqlite", "postgresql")
def test_reviewers_and_due_date_are_chosen_at_submission(client, login, team):
    author, rita = team[0], team[1]
    rhea = db.session.scalar(select(type(author)).where(type(author).username == "rhea"))
    _document, version = draft(author)
    attach(version, author)
    name_reviewer(version, author, "rhea")  # named earlier: shown checked, then not chosen
    db.session.commit()
    login(client, "alice")
    page = client.get(f"/admin/documents_version/details/?id={version.id}").get_data(
        as_text=True)
    assert f'href="/documents/versions/{version.id}/submit"' in page  # not the generic form
    form = _form(client, version)
    assert 'id="reviewer-rita"' in form and 'id="reviewer-alice"' not in form  # not the author
    assert f'value="{rhea.id}" id="reviewer-rhea" checked' in form

    past = (utcnow().date() - timedelta(days=1)).isoformat()
    refused = _submit(client, version, reviewers=[str(rita.id)], review_due=past)
    assert refused.status_code == 422 and "the date is in the past" in refused.get_data(
        as_text=True)
    outsider = _submit(client, version, reviewers=[str(author.id)],
                       review_due=utcnow().date().isoformat())
    assert outsider.status_code == 422 and "Choose reviewers from the list" in \
        outsider.get_data(as_text=True)
    db.session.expire_all()
    assert version.state == "draft" and version.review_due is None  # nothing changed
    assert [r.user.username for r in queries.named_reviewers(version)] == ["rhea"]

    due = utcnow().date() + timedelta(days=5)
    done = _submit(client, version, reviewers=[str(rita.id)], review_due=due.isoformat(),
                   reason="Please check section 4.")
    assert done.status_code == 302
    db.session.expire_all()
    assert (version.state, version.review_due) == ("in_review", due)
    assert [r.user.username for r in queries.named_reviewers(version)] == ["rita"]
    tasks = db.session.scalars(select(Task).where(Task.record_id == version.id,
                                                  Task.kind == "documents.review")).all()
    assert [(t.assignee_id, t.due) for t in tasks] == [(rita.id, due)]
    again = client.get(f"/documents/versions/{version.id}/submit")  # not a draft any more
    assert again.status_code == 302


def test_a_version_without_a_file_is_not_offered_the_page(client, login, team):
    author = team[0]
    _document, version = draft(author)
    login(client, "alice")
    page = client.get(f"/admin/documents_version/details/?id={version.id}").get_data(
        as_text=True)
    assert "has no file: attach one first" in page
    assert f"/documents/versions/{version.id}/submit" not in page
    refused = _submit(client, version, review_due=utcnow().date().isoformat())
    assert refused.status_code == 422 and "has no file" in refused.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "rita")  # a reviewer may not submit
    assert client.get(f"/documents/versions/{version.id}/submit").status_code == 403


def test_the_version_create_form_takes_its_file(client, login, team):
    author = team[0]
    document = create_document(author, title="Label printing", type_code="SOP")
    db.session.commit()
    login(client, "alice")
    url = "/admin/documents_version/new/"
    form = client.get(url).get_data(as_text=True)
    assert 'name="file"' in form and "The version&#39;s file" in form
    token = csrf_token(client, url)
    values = {"csrf_token": token, "document": str(document.id), "title": "Label printing",
              "reviews_required": "1"}
    refused = client.post(url, data={**values, "file": (io.BytesIO(b"MZ\x90\x00not a pdf"),
                                                        "sop.pdf")},
                          content_type="multipart/form-data")
    assert refused.status_code == 200 and "This kind of file is not accepted" in \
        refused.get_data(as_text=True)
    assert queries.versions_of(document) == []  # nothing saved
    made = client.post(url, data={**values, "file": (io.BytesIO(PDF), "sop-v1.0.pdf")},
                       content_type="multipart/form-data")
    assert made.status_code == 302
    [version] = queries.versions_of(document)
    assert made.headers["Location"].endswith(f"/admin/documents_version/details/?id={version.id}")
    assert [a.filename for a in attachments_of(version)] == ["sop-v1.0.pdf"]

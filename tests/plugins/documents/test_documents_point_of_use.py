"""Point of use (ISO-04): plain readers see the current effective version only; those who work on
documents also see work in progress; superseded and obsolete versions need
``documents.view_history`` and are marked on their record page. Also the admin list filters."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from documents_helpers import attach, draft, people, seeded, to_effective

from core import attachments_of, db
from core.testing import csrf_token
from core.testing_api import ApiCaller
from plugins.documents.models import Document
from plugins.documents.services import create_document, revise

pytestmark = pytest.mark.plugins("documents")
VERSIONS = "/admin/documents_version/"
DOCS = "/admin/documents_document/"


@pytest.fixture
def history(app, make_user, system_actor):
    """SOP-0001: v1.0 superseded, v2.0 effective, v3.0 draft; SOP-0002 obsolete."""
    seeded(system_actor)
    author, reviewer, approver, qa = people(make_user)
    make_user("tina", "trainee")
    make_user("audrey", "auditor")
    document, v1 = draft(author)
    to_effective(v1, author, reviewer, approver, qa)
    v2 = revise(document, author, major=True, change_summary="New freezer",
                change_reason="Replaced equipment")
    db.session.commit()
    to_effective(v2, author, reviewer, approver, qa)
    v3 = revise(document, author, major=True, change_summary="Next", change_reason="Pending")
    db.session.commit()
    attach(v3, author)
    retired, old = draft(author, title="Old balance calibration")
    to_effective(old, author, reviewer, approver, qa)
    from documents_helpers import sig, step

    step(old, "obsolete", approver, reason="Balance retired", signature=sig())
    numbers = {"v1": v1.number, "v2": v2.number, "v3": v3.number, "old": old.number,
               "doc": document.number, "retired": retired.number}
    ids = {"v1": v1.id, "v2": v2.id, "v3": v3.id, "old": old.id, "doc": document.id,
           "retired": retired.id, "file_v1": attachments_of(v1)[0].id,
           "file_v2": attachments_of(v2)[0].id}
    return numbers, ids


def listed(caller, type_key):  # type: ignore[no-untyped-def]
    response = caller.get(f"/records/{type_key}?limit=100")
    assert response.status_code == 200, response.get_json()
    return {item["number"] for item in response.get_json()["items"]}


@pytest.mark.req("ISO-04")
def test_api_shows_each_reader_what_they_may_use(client, history):
    numbers, ids = history
    tina, alice, audrey = (ApiCaller(client, n) for n in ("tina", "alice", "audrey"))
    assert listed(tina, "documents_version") == {numbers["v2"]}
    assert listed(alice, "documents_version") == {numbers["v2"], numbers["v3"]}
    assert listed(audrey, "documents_version") == {numbers[k] for k in ("v1", "v2", "v3", "old")}
    assert listed(tina, "documents_document") == {numbers["doc"]}
    assert listed(audrey, "documents_document") == {numbers["doc"], numbers["retired"]}

    for key in ("v1", "old", "v3"):
        assert tina.get(f"/records/documents_version/{ids[key]}").status_code == 404
        assert tina.get(f"/records/by-number/{numbers[key]}").status_code == 404
    assert tina.get(f"/records/documents_version/{ids['v2']}").status_code == 200
    assert alice.get(f"/records/documents_version/{ids['v3']}").status_code == 200
    assert alice.get(f"/records/documents_version/{ids['v1']}").status_code == 404
    assert tina.get(f"/records/documents_document/{ids['retired']}").status_code == 404
    for key in ("v1", "old"):
        body = audrey.get(f"/records/documents_version/{ids[key]}").get_json()
        assert body["state"] in ("superseded", "obsolete")
        assert audrey.get(f"/records/by-number/{numbers[key]}").status_code == 200
    # The effective version's link to its predecessor is hidden from the trainee only.
    links = tina.get(f"/records/documents_version/{ids['v2']}/links").get_json()
    assert numbers["v1"] not in {link["record"]["number"] for link in links}
    links = audrey.get(f"/records/documents_version/{ids['v2']}/links").get_json()
    assert numbers["v1"] in {link["record"]["number"] for link in links}
    # Files of a superseded version: not through the API, not as downloads.
    url = f"/records/documents_version/{ids['v1']}/attachments/{ids['file_v1']}/content"
    assert tina.get(url).status_code == 404


@pytest.mark.req("ISO-04")
def test_admin_lists_pages_and_badges(client, login, history):
    numbers, ids = history
    login(client, "tina")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert numbers["v2"] in page
    assert numbers["v1"] not in page and numbers["v3"] not in page and numbers["old"] not in page
    assert client.get(f"{VERSIONS}details/?id={ids['v1']}").status_code == 404
    assert client.get(f"{VERSIONS}details/?id={ids['v3']}").status_code == 404
    current = client.get(f"{VERSIONS}details/?id={ids['v2']}").get_data(as_text=True)
    assert 'id="record-badge"' not in current
    assert numbers["v1"] not in _links(current)  # the link is hidden
    assert client.get(f"/files/{ids['file_v1']}").status_code == 403
    assert client.get(f"/files/{ids['file_v2']}").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, VERSIONS)})
    login(client, "alice")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert numbers["v2"] in page and numbers["v3"] in page and numbers["v1"] not in page
    assert client.get(f"{VERSIONS}details/?id={ids['v1']}").status_code == 404

    client.post("/logout", data={"csrf_token": csrf_token(client, VERSIONS)})
    login(client, "audrey")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert all(numbers[k] in page for k in ("v1", "v2", "v3", "old"))
    old = client.get(f"{VERSIONS}details/?id={ids['v1']}").get_data(as_text=True)
    assert '<span class="badge badge-danger" id="record-badge">SUPERSEDED</span>' in old
    gone = client.get(f"{VERSIONS}details/?id={ids['old']}").get_data(as_text=True)
    assert 'id="record-badge">OBSOLETE</span>' in gone
    retired = client.get(f"{DOCS}details/?id={ids['retired']}").get_data(as_text=True)
    assert 'id="record-badge">OBSOLETE</span>' in retired
    current = client.get(f"{VERSIONS}details/?id={ids['v2']}").get_data(as_text=True)
    assert 'id="record-badge"' not in current
    assert "This record supersedes" in _links(current) and numbers["v1"] in _links(current)


def _links(page: str) -> str:
    """The record page's links table and impact list."""
    return page[page.index('id="links"'):page.index('<h3 class="h6 mt-4">Attachments</h3>')]


def _filter_arg(app, endpoint, name):  # type: ignore[no-untyped-def]
    admin = app.extensions["admin"][0]
    view = next(v for v in admin._views if getattr(v, "endpoint", None) == endpoint)
    return next(arg for arg, (_i, flt) in view._filter_args.items() if flt.name == name)


@pytest.mark.req("ISO-04", "ISO-06")
@pytest.mark.backends("sqlite", "postgresql")
def test_document_list_filters(app, client, login, history, make_user):
    numbers, ids = history
    qa = make_user("pat", "author")
    plan = create_document(qa, title="Monitoring plan", type_code="PLAN")
    db.session.commit()
    due = db.session.get(Document, ids["doc"])
    assert due.next_review_date is not None
    login(client, "audrey")

    def shown(endpoint, name, value):  # type: ignore[no-untyped-def]
        arg = _filter_arg(app, endpoint, name)
        page = client.get(f"/admin/{endpoint}/?flt0_{arg}={value}")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    page = shown("documents_document", "Type (code)", "PLAN")
    assert plan.number in page and numbers["doc"] not in page
    page = shown("documents_document", "Owner (username)", "pat")
    assert plan.number in page and numbers["doc"] not in page
    page = shown("documents_document", "Due for periodic review", "1")
    assert numbers["doc"] not in page  # next review in 24 months
    from core import audit_reason

    db.session.refresh(due)
    with audit_reason("test: review due soon"):
        due.next_review_date = date.today() + timedelta(days=3)
        db.session.commit()
    page = shown("documents_document", "Due for periodic review", "1")
    assert numbers["doc"] in page and plan.number not in page
    page = shown("documents_version", "Type (code)", "SOP")
    assert numbers["v2"] in page
    page = shown("documents_version", "Type (code)", "PLAN")
    assert numbers["v2"] not in page

"""Documents of external origin (ISO-05): the EXTERNAL type requires source, external version and
date; a document naming distribution roles is read by plain readers holding one of them only (the
document and its versions), while those who work on documents and history holders still see it."""

from __future__ import annotations

from datetime import date

import pytest
from documents_helpers import draft, people, seeded, to_effective
from sqlalchemy import select

from core import ValidationError, db, update_record
from core.testing import csrf_token
from core.testing_api import ApiCaller, problem
from plugins.documents.models import Document, DocumentType
from plugins.documents.services import create_document, create_version

pytestmark = pytest.mark.plugins("documents")
DOCS = "/admin/documents_document/"
VERSIONS = "/admin/documents_version/"
EXTERNAL = {"source": "ISO", "external_version": "2016", "external_date": "2016-03-01"}


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def external_type_id() -> int:
    return db.session.scalar(select(DocumentType.id).where(DocumentType.code == "EXTERNAL"))


@pytest.mark.req("ISO-05")
def test_an_external_document_names_its_source_version_and_date(client, team):
    author, *_ = team
    with pytest.raises(ValidationError) as refused:
        create_document(author, title="ISO 13485", type_code="EXTERNAL", source="ISO")
    assert set(refused.value.errors) == {"external_version", "external_date"}
    db.session.rollback()
    assert db.session.scalar(select(Document)) is None  # nothing written

    alice = ApiCaller(client, "alice")
    body = {"title": "ISO 13485", "document_type_id": external_type_id()}
    missing = problem(alice.post("/records/documents_document", json=body), 422)
    assert set(missing["errors"]) == {"source", "external_version", "external_date"}
    assert "external origin" in str(missing["errors"]["source"])
    problem(alice.post("/records/documents_document", json={**body, **EXTERNAL,
                                                            "external_date": "March"}),
            422, "external_date")
    created = alice.post("/records/documents_document", json={**body, **EXTERNAL})
    assert created.status_code == 201, created.get_json()
    document = created.get_json()
    assert document["number"] == "EXT-0001"
    assert (document["source"], document["external_version"], document["external_date"]) == (
        "ISO", "2016", "2016-03-01")
    # Emptying a required field later is refused too, naming it.
    url = f"/records/documents_document/{document['id']}"
    etag = alice.get(url).headers["ETag"].strip('"')
    problem(alice.patch(url, json={"source": " "}, headers={"If-Match": etag}), 422, "source")
    assert alice.get(url).get_json()["source"] == "ISO"
    # Other types need none of it.
    plain = create_document(author, title="Freezer cleaning", type_code="SOP")
    db.session.commit()
    assert plain.source == "" and plain.external_date is None


@pytest.mark.req("ISO-05")
def test_the_admin_form_names_the_missing_fields(client, login, team):
    login(client, "alice")
    form = {"csrf_token": csrf_token(client, DOCS + "new/"), "title": "ICH E6(R3)",
            "description": "", "document_type": str(external_type_id()), "study": "__None",
            "site": "__None", "source": "ICH", "external_version": "", "external_date": "",
            "distribution_roles": ""}
    page = client.post(DOCS + "new/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "External version: Required for a document of external origin" in page
    assert "External date: Required" in page  # named by label, not column (external_date)
    assert "external_version:" not in page
    assert db.session.scalar(select(Document)) is None
    form.update(external_version="R3", external_date="2025-01-06",
                distribution_roles="nosuchrole")
    page = client.post(DOCS + "new/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Distribution roles: No role with the key &#39;nosuchrole&#39;" in page
    form.update(distribution_roles="site_monitor, trainee")
    page = client.post(DOCS + "new/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "without spaces" in page and "site_monitor,trainee" in page
    form.update(distribution_roles="site_monitor,trainee")
    response = client.post(DOCS + "new/", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    document = db.session.scalar(select(Document))
    assert (document.number, document.source, document.external_date) == (
        "EXT-0001", "ICH", date(2025, 1, 6))
    assert document.distribution_roles == "site_monitor,trainee"


@pytest.fixture
def restricted(team, make_user):
    """EXT-0001 effective, distributed to site monitors only; SOP-0001 effective, for all."""
    author, reviewer, approver, qa = team
    make_user("tina", "trainee")
    make_user("simon", "site_monitor")
    make_user("audrey", "auditor")
    document = create_document(author, title="Sponsor monitoring manual", type_code="EXTERNAL",
                               source="Sponsor Ltd", external_version="4.2",
                               external_date=date(2026, 5, 1),
                               distribution_roles="site_monitor")
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    to_effective(version, author, reviewer, approver, qa)
    _open, open_version = draft(author, title="Freezer cleaning")
    to_effective(open_version, author, reviewer, approver, qa)
    return document, version, open_version


def numbers(caller, type_key):  # type: ignore[no-untyped-def]
    response = caller.get(f"/records/{type_key}?limit=100")
    assert response.status_code == 200, response.get_json()
    return {item["number"] for item in response.get_json()["items"]}


@pytest.mark.req("ISO-05", "ISO-04")
@pytest.mark.backends("sqlite", "postgresql")
def test_distribution_is_restricted_to_the_named_roles_in_the_api(client, restricted,
                                                                  cqms_backend):
    document, version, open_version = restricted
    tina, simon, audrey, quinn, rita = (ApiCaller(client, n)
                                        for n in ("tina", "simon", "audrey", "quinn", "rita"))
    assert numbers(tina, "documents_document") == {"SOP-0001"}
    assert numbers(tina, "documents_version") == {open_version.number}
    for url in (f"/records/documents_document/{document.id}",
                f"/records/documents_version/{version.id}", "/records/by-number/EXT-0001",
                f"/records/by-number/{version.number}"):
        assert tina.get(url).status_code == 404, url
        assert simon.get(url).status_code == 200, url
        assert audrey.get(url).status_code == 200, url  # documents.view_history
        assert quinn.get(url).status_code == 200, url  # documents.manage
        assert rita.get(url).status_code == 200, url  # a reviewer works on documents
    assert tina.get(f"/documents/versions/{version.id}/pdf").status_code == 404
    assert simon.get(f"/documents/versions/{version.id}/pdf").status_code == 200
    assert numbers(simon, "documents_document") == {"SOP-0001", "EXT-0001"}
    assert numbers(simon, "documents_version") == {open_version.number, version.number}
    assert numbers(audrey, "documents_version") == {open_version.number, version.number}

    # Lifting the restriction (audited, with a reason) opens it to every reader.
    author = db.session.get(type(document), document.id).owner
    update_record(document, author, expected_version=document.version,
                  reason="Distributed to all sites", distribution_roles="")
    db.session.commit()
    assert numbers(tina, "documents_document") == {"SOP-0001", "EXT-0001"}
    assert tina.get(f"/records/documents_version/{version.id}").status_code == 200


@pytest.mark.req("ISO-05")
def test_distribution_is_restricted_in_the_admin_lists(client, login, restricted):
    document, version, open_version = restricted
    login(client, "tina")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert open_version.number in page and version.number not in page
    page = client.get(DOCS).get_data(as_text=True)
    assert "SOP-0001" in page and "EXT-0001" not in page
    assert client.get(f"{DOCS}details/?id={document.id}").status_code == 404
    assert client.get(f"{VERSIONS}details/?id={version.id}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, VERSIONS)})
    login(client, "simon")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert open_version.number in page and version.number in page
    details = client.get(f"{DOCS}details/?id={document.id}").get_data(as_text=True)
    assert "Sponsor Ltd" in details and "site_monitor" in details

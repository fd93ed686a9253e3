"""Documents and study/site scope (issue 11, items 1 and 8).

Work in progress (draft documents, versions in draft, in review or approved) is shown where the
reader works on documents, not wherever they may read; history where they hold
``documents.view_history``. A version always shares its document's study and site: it moves
with its document and never alone. A site-scoped author changes nothing outside their site,
through any route of the documents record types or of the plugin itself.
"""

from __future__ import annotations

import io

import pytest
from documents_helpers import PDF, attach, people, seeded, to_effective
from flask import g
from sqlalchemy import func, select

from core import ValidationError, attachments_of, db
from core.audit.models import AuditEntry
from core.records.models import Record, RecordLink
from core.studies import Site, Study
from core.testing import csrf_token
from core.testing_api import ApiCaller
from core.users.models import Role
from core.users.service import assign_role
from plugins.documents.models import DocumentVersion
from plugins.documents.services import create_document, create_version, revise

pytestmark = pytest.mark.plugins("documents")
BOTH = pytest.mark.backends("sqlite", "postgresql")
VERSIONS = "/admin/documents_version/"
DOCS = "/admin/documents_document/"


def also(user, role_key, site=None):  # type: ignore[no-untyped-def]
    role = db.session.scalar(select(Role).where(Role.key == role_key))
    assign_role(user, role, reason="test set-up", site=site)
    db.session.commit()
    g.pop("cqms_grants", None)  # grants are cached per app context


def located(author, title, site=None):  # type: ignore[no-untyped-def]
    """A draft SOP with its draft version 1.0 at ``site`` (global without)."""
    scope = {"study_id": site.study_id, "site_id": site.id} if site else {}
    document = create_document(author, title=title, type_code="SOP", **scope)
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    return document, version


class Library:
    """ST-1 with sites 101 and 102. Drafts at 101 (``d101``), 102 (``d102``) and global
    (``dg``); an effective global SOP (``eg``); at 102 an SOP whose v1.0 is superseded by the
    effective v2.0 (``e102``). ``gus`` reads everything and authors at 101; ``sam`` authors at
    101 only; ``ivy`` reads everything and inspects 101; ``ida`` reads everything and inspects
    102; ``ray`` reviews at 101."""

    def __init__(self, make_user):  # type: ignore[no-untyped-def]
        self.study = Study(code="ST-1", title="Study one")
        self.s101 = Site(study=self.study, code="101", name="Berlin")
        self.s102 = Site(study=self.study, code="102", name="Lyon")
        db.session.add_all([self.study, self.s101, self.s102])
        db.session.commit()
        self.team = author, reviewer, approver, qa = people(make_user)
        self.d101, self.v101 = located(author, "Freezer at 101", self.s101)
        self.d102, self.v102 = located(author, "Freezer at 102", self.s102)
        self.dg, self.vg = located(author, "Global draft")
        self.eg, self.veg = located(author, "Global effective")
        to_effective(self.veg, *self.team)
        self.e102, self.old102 = located(author, "Effective at 102", self.s102)
        to_effective(self.old102, *self.team)
        self.cur102 = revise(self.e102, author, major=True, change_summary="New",
                             change_reason="Better")
        db.session.commit()
        to_effective(self.cur102, *self.team)
        self.gus = make_user("gus", "trainee")
        also(self.gus, "author", self.s101)
        self.sam = make_user("sam", "author", site=self.s101)
        self.ivy = make_user("ivy", "trainee")
        also(self.ivy, "inspector", self.s101)
        self.ida = make_user("ida", "trainee")
        also(self.ida, "inspector", self.s102)
        self.ray = make_user("ray", "reviewer", site=self.s101)


@pytest.fixture
def library(app, make_user, system_actor):  # type: ignore[no-untyped-def]
    seeded(system_actor)
    return Library(make_user)


def listed(caller, type_key):  # type: ignore[no-untyped-def]
    response = caller.get(f"/records/{type_key}?limit=100")
    assert response.status_code == 200, response.get_json()
    return {item["number"] for item in response.get_json()["items"]}


def written() -> tuple[int, ...]:
    db.session.expire_all()
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return (count(AuditEntry), count(Record), db.session.scalar(select(func.sum(Record.version))),
            count(RecordLink))


# -- item 8: drafts across sites -------------------------------------------------------------------


@pytest.mark.req("ISO-04", "SEC-02")
@BOTH
def test_work_in_progress_is_shown_where_the_reader_works(client, login, library, cqms_backend):
    lib = library
    gus, ivy, ida, alice = (ApiCaller(client, n) for n in ("gus", "ivy", "ida", "alice"))
    effective = {lib.veg.number, lib.cur102.number}
    assert listed(gus, "documents_version") == effective | {lib.v101.number}
    assert listed(gus, "documents_document") == {lib.d101.number, lib.eg.number,
                                                 lib.e102.number}
    for record in (lib.v102, lib.vg, lib.d102, lib.dg):
        assert gus.get(f"/records/{record.type}/{record.id}").status_code == 404
        assert gus.get(f"/records/by-number/{record.number}").status_code == 404
    # documents.view_history shows every state, in its own scope only.
    assert not {lib.old102.number, lib.v102.number} & listed(ivy, "documents_version")
    assert {lib.old102.number, lib.v102.number} <= listed(ida, "documents_version")
    # A global author works everywhere.
    assert {lib.v101.number, lib.v102.number, lib.vg.number} <= listed(alice,
                                                                        "documents_version")
    login(client, "gus")
    page = client.get(VERSIONS).get_data(as_text=True)
    assert lib.v101.number in page and lib.v102.number not in page and lib.vg.number not in page
    assert client.get(f"{VERSIONS}details/?id={lib.v102.id}").status_code == 404
    file = attach(lib.v102, lib.team[0])
    assert client.get(f"/files/{file.id}").status_code == 403


# -- item 1: a version stays where its document is -------------------------------------------------


@pytest.mark.req("SEC-02")
@BOTH
def test_a_version_moves_with_its_document_and_never_alone(client, library, cqms_backend):
    lib = library
    alice = ApiCaller(client, "alice")
    document = alice.get(f"/records/documents_document/{lib.d102.id}").get_json()
    moved = alice.patch(f"/records/documents_document/{lib.d102.id}",
                        json={"site_id": lib.s101.id},
                        headers={"If-Match": f'"{document["version"]}"'})
    assert moved.status_code == 200, moved.get_json()
    db.session.expire_all()
    assert (lib.v102.study_id, lib.v102.site_id) == (lib.study.id, lib.s101.id)
    version = alice.get(f"/records/documents_version/{lib.v102.id}").get_json()
    refused = alice.patch(f"/records/documents_version/{lib.v102.id}",
                          json={"site_id": lib.s102.id},
                          headers={"If-Match": f'"{version["version"]}"'})
    assert refused.status_code == 422 and "site_id" in refused.get_json()["errors"]
    # An effective document's versions never change: it does not move, nothing is written.
    before = written()
    document = alice.get(f"/records/documents_document/{lib.e102.id}").get_json()
    refused = alice.patch(f"/records/documents_document/{lib.e102.id}", json={
        "site_id": lib.s101.id, "reason": "Wrong site"},
        headers={"If-Match": f'"{document["version"]}"'})
    assert refused.status_code == 422, refused.get_json()
    assert written() == before
    assert {v.site_id for v in (lib.e102, lib.old102, lib.cur102)} == {lib.s102.id}
    # A new version takes its document's scope, and no other.
    fresh = create_document(lib.team[0], title="New at 101", type_code="SOP",
                            study_id=lib.study.id, site_id=lib.s101.id)
    db.session.commit()
    made = alice.post("/records/documents_version", json={"title": "v1",
                                                          "document_id": fresh.id})
    assert made.status_code == 201 and made.get_json()["site_id"] == lib.s101.id
    sam = ApiCaller(client, "sam")  # an author of site 101 only: the version is theirs to draft
    mine = create_document(lib.sam, title="Sam's at 101", type_code="SOP",
                           study_id=lib.study.id, site_id=lib.s101.id)
    db.session.commit()
    made = sam.post("/records/documents_version", json={"title": "v1", "document_id": mine.id})
    assert made.status_code == 201 and made.get_json()["site_id"] == lib.s101.id
    refused = sam.post("/records/documents_version", json={"title": "v1",
                                                           "document_id": lib.dg.id})
    assert refused.status_code == 403  # a document of no study: not theirs
    other = create_document(lib.team[0], title="Other at 101", type_code="SOP",
                            study_id=lib.study.id, site_id=lib.s101.id)
    db.session.commit()
    refused = alice.post("/records/documents_version", json={
        "title": "v1", "document_id": other.id, "study_id": lib.study.id,
        "site_id": lib.s102.id})
    assert refused.status_code == 422 and "site_id" in refused.get_json()["errors"]
    # Plain ORM: the flush guard keeps them together as well.
    version = db.session.get(DocumentVersion, lib.v101.id)
    version.site_id = lib.s102.id
    with pytest.raises(ValidationError) as caught:
        db.session.flush()
    assert "site_id" in caught.value.errors
    db.session.rollback()


@pytest.mark.req("SEC-02", "P11-04")
@BOTH
def test_site_authors_move_and_edit_nothing_outside_their_site(app, client, login, library,
                                                              cqms_backend):
    lib = library
    gus = ApiCaller(app.test_client(), "gus")
    login(client, "gus")
    before = written()
    document = gus.get(f"/records/documents_document/{lib.e102.id}").get_json()
    refused = gus.patch(f"/records/documents_document/{lib.e102.id}", json={
        "site_id": lib.s101.id, "reason": "Ours now"},
        headers={"If-Match": f'"{document["version"]}"'})
    assert refused.status_code == 403
    token = csrf_token(client, "/admin/")
    for record, url in ((lib.e102, DOCS), (lib.eg, DOCS), (lib.cur102, VERSIONS)):
        assert client.get(f"{url}edit/?id={record.id}").status_code == 403
        response = client.post(f"{url}edit/?id={record.id}", data={
            "csrf_token": token, "title": "Taken", "study": str(lib.study.id),
            "site": str(lib.s101.id), "expected_version": str(record.version),
            "reason": "Ours now"})
        assert response.status_code == 403
    for record, url in ((lib.dg, DOCS), (lib.vg, VERSIONS), (lib.d102, DOCS)):
        assert client.get(f"{url}edit/?id={record.id}").status_code == 404
    assert written() == before


@pytest.mark.req("SEC-02", "ISO-03")
@BOTH
def test_reviewers_are_named_where_the_version_is(client, library, cqms_backend):
    lib = library
    alice = ApiCaller(client, "alice")
    url = f"/documents/versions/{lib.vg.id}/reviewers"
    refused = alice.post(url, json={"username": "ray"})  # reviews at 101, not globally
    assert refused.status_code == 422 and "username" in refused.get_json()["errors"]
    assert alice.post(f"/documents/versions/{lib.v101.id}/reviewers",
                      json={"username": "ray"}).status_code == 201


# -- the walk of the documents routes --------------------------------------------------------------

PLUGIN_ROUTES = {"documents.version_pdf", "documents.reviewers_page",
                 "documents.change_reviewers", "documents.open_reviewers_page",
                 "documents_api.version_pdf", "documents_api.version_reviewers",
                 "documents_api.name_version_reviewer", "documents_api.withdraw_version_reviewer"}


def test_the_walk_covers_every_route_of_a_version(app):
    found = {rule.endpoint for rule in app.url_map.iter_rules() if "version_id" in rule.arguments}
    assert found == PLUGIN_ROUTES


@pytest.mark.req("SEC-02", "SEC-11", "P11-04")
@BOTH
def test_walk_of_document_routes_out_of_a_site_authors_scope(app, client, login, library,
                                                             cqms_backend):
    """``sam`` authors at 101 only: global drafts, anything of 102 and history are out of
    reach; global effective documents are read, never written."""
    lib = library
    files = {v.id: (attachments_of(v) or [attach(v, lib.team[0])])[0]
             for v in (lib.vg, lib.v102, lib.old102, lib.cur102, lib.veg)}
    sam = ApiCaller(app.test_client(), "sam")
    login(client, "sam")
    token = csrf_token(client, "/admin/")
    unreadable = [lib.vg, lib.v102, lib.old102, lib.cur102]
    before = written()
    for version in unreadable:
        base = f"/documents/versions/{version.id}"
        for response in (
            client.post(f"{base}/pdf", data={"csrf_token": token, "copy": "controlled"}),
            client.get(f"{base}/reviewers"),
            client.post(f"{base}/reviewers", data={"csrf_token": token, "username": "ray"}),
            client.post(f"{base}/reviewers/open", data={"csrf_token": token}),
            sam.get(f"{base}/pdf"), sam.get(f"{base}/reviewers"),
            sam.post(f"{base}/reviewers", json={"username": "ray"}),
            sam.post(f"{base}/reviewers/ray/withdraw", json={}),
            client.get(f"/files/{files[version.id].id}"),
        ):
            assert response.status_code in (403, 404), (version.number, response.request.path)
    # The core's routes of both record types, on a global effective SOP sam may read.
    for record in (lib.eg, lib.veg):
        url = f"/records/{record.type}/{record.id}"
        admin = f"/admin/{record.type}/{record.id}"
        for response in (
            sam.patch(url, json={"title": "Taken", "reason": "Ours"},
                      headers={"If-Match": f'"{record.version}"'}),
            sam.post(f"{url}/links", json={"target": lib.d101.number, "kind": "relates"}),
            sam.post(f"{url}/attachments", data={"reason": "x", "file": (io.BytesIO(PDF),
                                                                         "x.pdf")},
                     content_type="multipart/form-data"),
            sam.post(f"{url}/transitions/{'retire' if record is lib.eg else 'obsolete'}",
                     json={"reason": "Ours"}),
            client.post(f"{admin}/links", data={"csrf_token": token, "target": lib.d101.number,
                                                "kind": "relates"}),
            client.post(f"{admin}/attachments", data={
                "csrf_token": token, "reason": "x", "file": (io.BytesIO(PDF), "x.pdf")},
                content_type="multipart/form-data"),
        ):
            assert response.status_code == 403, (record.number, response.request.path,
                                                  response.get_data(as_text=True)[:200])
    assert written() == before

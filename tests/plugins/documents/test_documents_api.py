"""The documents plugin through the JSON API: the core's record endpoints for documents and
versions, every transition and its refusals as problem+json."""

from __future__ import annotations

import io

import pytest
from documents_helpers import PDF, people, seeded
from sqlalchemy import select

from core import db
from core.testing import DEFAULT_PASSWORD
from core.testing_api import ApiCaller, problem
from plugins.documents.models import DocumentType

pytestmark = pytest.mark.plugins("documents")
API = "/api/v1"


@pytest.fixture
def callers(client, team):
    return {name: ApiCaller(client, name) for name in ("alice", "rita", "bob", "quinn")}


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def signed(password=DEFAULT_PASSWORD, **extra):  # type: ignore[no-untyped-def]
    return {"signature": {"password": password, **extra}}


@pytest.mark.req("ISO-01", "ISO-03", "ISO-05", "P11-08", "P11-09", "P11-15")
@pytest.mark.backends("sqlite", "postgresql")
def test_versions_move_through_the_api(callers):
    alice, rita, bob, quinn = (callers[n] for n in ("alice", "rita", "bob", "quinn"))
    sop = db.session.scalar(select(DocumentType.id).where(DocumentType.code == "SOP"))
    created = alice.post("/records/documents_document",
                         json={"title": "Freezer cleaning", "document_type_id": sop})
    assert created.status_code == 201, created.get_json()
    document = created.get_json()
    assert document["number"] == "SOP-0001" and document["state"] == "draft"
    made = alice.post("/records/documents_version", json={"title": "Freezer cleaning",
                                                          "document_id": document["id"]})
    assert made.status_code == 201, made.get_json()
    version = made.get_json()
    assert (version["number"], version["version_label"]) == ("SOP-0001-v1.0", "1.0")
    url = f"/records/documents_version/{version['id']}"
    problem(alice.post("/records/documents_version", json={
        "title": "x", "document_id": document["id"]}), 422, "document_id")  # one at a time
    problem(alice.post(f"{url}/transitions/submit", json={}), 409)  # no file yet
    uploaded = alice.post(f"{url}/attachments", data={"file": (io.BytesIO(PDF), "sop.pdf")},
                          content_type="multipart/form-data")
    assert uploaded.status_code == 201
    assert alice.post(f"{url}/transitions/submit", json={}).get_json()["state"] == "in_review"
    problem(alice.post(f"{url}/transitions/review", json=signed(attest=True)), 403)
    problem(rita.post(f"{url}/transitions/review", json={}), 422, "signature")
    problem(bob.post(f"{url}/transitions/approve", json=signed()), 409)  # no review yet
    reviewed = rita.post(f"{url}/transitions/review", json=signed(comment="Checked"))
    assert reviewed.status_code == 200 and reviewed.get_json()["state"] == "in_review"
    problem(rita.post(f"{url}/transitions/review", json=signed()), 409)  # reviewed already
    problem(quinn.post(f"{url}/transitions/make_effective", json={}), 409)  # not approved
    approved = bob.post(f"{url}/transitions/approve", json=signed())
    assert approved.status_code == 200 and approved.get_json()["state"] == "approved"
    etag = approved.headers["ETag"].strip('"')
    problem(alice.patch(url, json={"change_summary": "late", "reason": "late"},
                        headers={"If-Match": etag}), 422, "change_summary")
    problem(alice.patch(url, json={"effective_at": "2026-01-01T00:00:00Z", "reason": "x"},
                        headers={"If-Match": etag}), 422, "effective_at")
    problem(bob.post(f"{url}/transitions/make_effective", json={}), 403)
    effective = quinn.post(f"{url}/transitions/make_effective", json={})
    assert effective.status_code == 200 and effective.get_json()["state"] == "effective"
    assert effective.get_json()["effective_document_id"] == document["id"]
    meanings = [s["meaning"] for s in alice.get(f"{url}/signatures").get_json()]
    assert meanings == ["reviewed", "approved"]
    doc = alice.get(f"/records/documents_document/{document['id']}").get_json()
    assert doc["state"] == "effective" and doc["next_review_date"]

    second = alice.post("/records/documents_version", json={
        "title": "Freezer cleaning", "document_id": document["id"], "version_label": "2.0",
        "change_summary": "New freezer", "change_reason": "Replaced equipment"}).get_json()
    assert (second["number"], second["supersedes_id"]) == ("SOP-0001-v2.0", version["id"])
    url2 = f"/records/documents_version/{second['id']}"
    alice.post(f"{url2}/attachments", data={"file": (io.BytesIO(PDF), "sop2.pdf")},
               content_type="multipart/form-data")
    alice.post(f"{url2}/transitions/submit", json={})
    rejected = problem(rita.post(f"{url2}/transitions/reject", json={}), 422, "reason")
    assert rejected["status"] == 422
    rita.post(f"{url2}/transitions/review", json=signed())
    bob.post(f"{url2}/transitions/approve", json=signed())
    assert quinn.post(f"{url2}/transitions/make_effective", json={}).status_code == 200
    assert quinn.get(url).get_json()["state"] == "superseded"  # quinn: documents.view_history
    assert alice.get(url).status_code == 404  # the author: no history (ISO-04)
    links = quinn.get(f"{url2}/links").get_json()
    assert [(lk["kind"], lk["record"]["number"]) for lk in links] == [("supersedes",
                                                                       "SOP-0001-v1.0")]
    problem(bob.post(f"{url2}/transitions/obsolete", json=signed()), 422, "reason")
    gone = bob.post(f"{url2}/transitions/obsolete", json={"reason": "Withdrawn", **signed()})
    assert gone.status_code == 200 and gone.get_json()["state"] == "obsolete"
    assert quinn.get(f"/records/documents_document/{document['id']}").get_json()["state"] \
        == "obsolete"


def test_record_types_describe_the_contract(callers):
    types = {t["key"]: t for t in callers["alice"].get("/record-types").get_json()}
    version = types["documents_version"]
    assert version["states"] == ["draft", "in_review", "approved", "effective", "superseded",
                                 "obsolete"]
    names = {t["name"]: (t["source"], t["target"], t["signature"]) for t in version["transitions"]}
    assert names["submit"] == (["draft"], "in_review", None)
    assert names["review"] == (["in_review"], "in_review", "reviewed")
    assert names["reject"] == (["in_review"], "draft", None)
    assert names["approve"] == (["in_review"], "approved", "approved")
    assert names["make_effective"] == (["approved"], "effective", None)
    assert names["obsolete"] == (["effective"], "obsolete", "approved")
    assert types["documents_document"]["states"] == ["draft", "effective", "obsolete", "disposed"]

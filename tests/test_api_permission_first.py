"""The API checks the caller's right before it validates their body: a user without the right
gets 403 whatever they send, never a 422 that describes a body they may not send (core records
and the plugins' APIs)."""

from __future__ import annotations

import pytest
from kernel_plugin import make_plugin

from core import audit_reason, create_record
from core.db import db
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD
from core.users.service import get_user
from plugins.documents.services import create_document, create_version, seed_types
from plugins.training.models import TrainingRequirement
from plugins.training.services import assign

API = "/api/v1"
BAD_BODY = {"bogus": 1, "title": 7}

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["documents", "training", "acme"],
            "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def site(app, system_actor):
    study = Study(code="S-1", title="Study")
    site = Site(study=study, code="101", name="Berlin")
    db.session.add_all([study, site])
    db.session.commit()
    return site


@pytest.fixture
def bearer(client, make_user):
    def issue(username: str, *roles: str, **scope) -> dict[str, str]:  # type: ignore[no-untyped-def]
        if get_user(username) is None:
            make_user(username, *roles, **scope)
        response = client.post(f"{API}/auth/tokens", json={"username": username,
                                                           "password": DEFAULT_PASSWORD})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}
    return issue


def assert_forbidden(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


@pytest.mark.req("P11-04", "SEC-02")
def test_record_writes_refuse_before_validating(client, bearer, site, system_actor):
    alice = bearer("alice", "author")  # acme.edit everywhere, not acme.approve
    sam = bearer("sam", "author", site=site)  # reads global widgets, writes at site 101 only
    ivy = bearer("ivy", "inspector")  # reads documents, writes none
    widget = create_record("acme_widget", get_user("alice"), title="Pump")
    db.session.commit()
    url = f"{API}/records/acme_widget/{widget.id}"
    assert client.get(url, headers=sam).status_code == 200
    assert_forbidden(client.post(f"{API}/records/documents_document", headers=ivy,
                                 json=BAD_BODY))
    assert_forbidden(client.patch(url, headers=sam, json=BAD_BODY))  # no If-Match either
    assert_forbidden(client.post(f"{url}/links", headers=sam, json=BAD_BODY))
    assert_forbidden(client.post(f"{url}/transitions/approve", headers=alice, json=BAD_BODY))
    assert_forbidden(client.post(f"{url}/transitions/submit", headers=sam, json=BAD_BODY))
    # Whoever holds the right still learns what is wrong with the body.
    assert client.post(f"{url}/transitions/submit", headers=alice,
                       json=BAD_BODY).status_code == 422
    assert client.post(f"{API}/records/acme_widget", headers=sam,
                       json=BAD_BODY).status_code == 422


@pytest.mark.req("P11-04", "SEC-02")
def test_plugin_api_writes_refuse_before_validating(client, bearer, system_actor):
    seed_types()
    db.session.commit()
    rita = bearer("rita", "reviewer")  # documents.review, not documents.create
    tina = bearer("tina", "trainee")  # training.view only
    bearer("alice", "author")
    alice = get_user("alice")
    document = create_document(alice, title="Cleaning", type_code="SOP")
    db.session.commit()
    version = create_version(document, alice)
    db.session.commit()
    reviewers = f"{API}/documents/versions/{version.id}/reviewers"
    assert_forbidden(client.post(reviewers, headers=rita, json=BAD_BODY))
    assert_forbidden(client.post(f"{reviewers}/rita/withdraw", headers=rita, json=BAD_BODY))
    assert_forbidden(client.post(f"{API}/training/requirements", headers=tina, json=BAD_BODY))
    with audit_reason("test set-up"):
        requirement = TrainingRequirement(code="GCP-1", kind="elearning", title="GCP")
        db.session.add(requirement)
        db.session.flush()
    assignment = assign(get_user("tina"), requirement)
    db.session.commit()
    quinn = bearer("quinn", "qa_manager")  # may read tina's assignment, not take her quiz
    quiz = f"{API}/training/assignments/{assignment.id}/quiz"
    assert client.get(quiz, headers=quinn).status_code == 200
    assert_forbidden(client.post(quiz, headers=quinn, json=BAD_BODY))

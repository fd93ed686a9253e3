"""Named reviewers of a version (issue 5: "assigned reviewers and approvers"): named only while the
version is a draft (audited, withdrawn but never deleted); each gets their own review task; only
they review it; approval waits for all of them. Without names the role + count rule stays."""

from __future__ import annotations

import io

import pytest
from documents_helpers import PDF, attach, draft, people, seeded, sig, step
from sqlalchemy import select

from core import Task, WorkflowError, db
from core.audit.models import AuditEntry
from core.testing import csrf_token, post_with_token
from core.testing_api import ApiCaller, problem

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    author, reviewer, approver, qa = people(make_user)
    from core import attest
    from core.testing import DEFAULT_PASSWORD

    rex = make_user("rex", "reviewer")
    ron = make_user("ron", "reviewer")
    for user in (rex, ron):
        attest(user, DEFAULT_PASSWORD)
    make_user("tina", "trainee")
    db.session.commit()
    return author, reviewer, approver, qa, rex, ron


def review_tasks(version):  # type: ignore[no-untyped-def]
    return {(t.assignee.username if t.assignee else t.role.key, t.state) for t in db.session.scalars(
        select(Task).where(Task.record_id == version.id, Task.kind == "documents.review"))}


@pytest.mark.req("ISO-01", "P11-08")
@pytest.mark.backends("sqlite", "postgresql")
def test_named_reviewers_review_and_approval_waits_for_all(client, team, cqms_backend):
    author, rita, bob, _qa, rex, ron = team
    _document, version = draft(author)
    alice = ApiCaller(client, "alice")
    url = f"/documents/versions/{version.id}/reviewers"
    assert alice.get(url).get_json() == []
    problem(alice.post(url, json={"username": "alice"}), 422, "username")  # not a reviewer
    problem(alice.post(url, json={"username": "tina"}), 422, "username")  # no documents.review
    problem(alice.post(url, json={"username": "nobody"}), 422, "username")
    problem(alice.post(url, json={"username": "rita", "extra": 1}), 422)
    problem(ApiCaller(client, "rita").post(url, json={"username": "rex"}), 403)
    named = alice.post(url, json={"username": "rita", "reason": "Process owner"})
    assert named.status_code == 201, named.get_json()
    alice.post(url, json={"username": "rex"})
    alice.post(url, json={"username": "ron"})
    problem(alice.post(url, json={"username": "rex"}), 422, "username")  # named already
    withdrawn = alice.post(f"{url}/ron/withdraw", json={"reason": "On leave"})
    assert [r["username"] for r in withdrawn.get_json()] == ["rita", "rex"]
    trail = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "documents_version_reviewer")).all()
    assert {e.reason for e in trail} >= {"Process owner", "On leave"}

    attach(version, author)
    step(version, "submit", author)
    assert review_tasks(version) == {("rita", "open"), ("rex", "open")}
    problem(alice.post(url, json={"username": "ron"}), 422, "reviewer")  # not a draft any more
    with pytest.raises(WorkflowError, match="named reviewers only"):
        step(version, "review", ron, signature=sig())
    db.session.rollback()
    step(version, "review", rita, signature=sig())
    assert review_tasks(version) == {("rita", "done"), ("rex", "open")}
    with pytest.raises(WorkflowError, match="awaits the review of rex"):
        step(version, "approve", bob, signature=sig())
    db.session.rollback()
    assert [(r["username"], r["reviewed"]) for r in alice.get(url).get_json()] == [
        ("rita", True), ("rex", False)]
    step(version, "review", rex, signature=sig())
    assert review_tasks(version) == {("rita", "done"), ("rex", "done")}
    step(version, "approve", bob, signature=sig())
    assert version.state == "approved"


def test_the_author_is_never_a_named_reviewer(client, make_user, team):
    ada = make_user("ada", "author", "reviewer")
    _document, version = draft(ada)
    problem(ApiCaller(client, "ada").post(f"/documents/versions/{version.id}/reviewers",
                                       json={"username": "ada"}), 422, "reviewer")


def test_without_names_any_reviewer_counts(client, team):
    author, rita, bob, *_ = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    assert review_tasks(version) == {("reviewer", "open")}
    step(version, "review", rita, signature=sig())
    step(version, "approve", bob, signature=sig())
    assert version.state == "approved"


def test_the_reviewers_page_shows_each_status(client, login, team):
    author, rita, *_ = team
    _document, version = draft(author)
    login(client, "alice")
    details = client.get(f"/admin/documents_version/details/?id={version.id}")
    assert 'id="documents-reviewers"' in details.get_data(as_text=True)
    opened = post_with_token(client, f"/documents/versions/{version.id}/reviewers/open")
    assert opened.status_code == 303
    page_url = f"/documents/versions/{version.id}/reviewers"
    assert opened.headers["Location"].endswith(page_url)
    page = client.get(page_url).get_data(as_text=True)
    assert 'id="no-reviewers"' in page and 'id="name-reviewer"' in page
    token = csrf_token(client, page_url)
    page = client.post(page_url, data={"csrf_token": token, "username": "tina"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Check the form: username: tina may not review documents here" in page
    for name in ("rita", "rex"):
        client.post(page_url, data={"csrf_token": token, "username": name})
    client.post(f"/admin/documents_version/{version.id}/attachments", data={
        "csrf_token": token, "file": (io.BytesIO(PDF), "sop.pdf")},
        content_type="multipart/form-data")
    step(version, "submit", author)
    step(version, "review", rita, signature=sig())
    page = client.get(page_url).get_data(as_text=True)
    assert 'id="name-reviewer"' not in page  # in review: the names are fixed
    rows = {name: page.split(f'id="reviewer-{name}"', 1)[1].split("</tr>", 1)[0]
            for name in ("rita", "rex")}
    assert "reviewed" in rows["rita"] and "pending" in rows["rex"]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/documents_version/")})
    login(client, "tina")
    assert client.get(page_url).status_code == 404  # not effective: not for plain readers
    assert ApiCaller(client, "tina").get(page_url).status_code == 404

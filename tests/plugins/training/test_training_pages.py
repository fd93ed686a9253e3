"""The training pages (test client): My training with the quiz and the read-and-understood
signature, the training matrix with filters and exports, the individual training record PDF
and the dashboard cards."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from training_helpers import assignments_of, attested, curriculum, quiz, requirement

from core import audit_reason, db, server_write, utcnow
from core.audit.models import AuditEntry
from core.testing import DEFAULT_PASSWORD, csrf_token, job_file, post_with_token
from core.users.models import User

pytestmark = pytest.mark.plugins("training")
WRONG = "not-the-password-1"


@pytest.fixture
def team(app, make_user, system_actor):
    qa = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    trainee = make_user("tina", "trainee", full_name="Tina Trainee")
    other = make_user("otto", "trainee", full_name="Otto Other")
    attested(qa)
    requirement("GCP-101", title="GCP essentials")
    requirement("LAB-1", kind="instructor_led", title="Freezer practical")
    curriculum(qa, "trainee", "GCP-101", "LAB-1")
    return qa, trainee, other


def gcp(user):  # type: ignore[no-untyped-def]
    return next(a for a in assignments_of(user) if a.requirement.code == "GCP-101")


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def pdf_text(data: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())  # table cells wrap: compare with single spaces


def exports(kind: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "export", AuditEntry.field == kind)))


# -- My training ------------------------------------------------------------------------------


def test_my_training_lists_open_assignments_with_status_and_actions(team, client, login):
    _qa, trainee, _other = team
    login(client, "tina")
    page = client.get("/training/my")
    assert page.status_code == 200
    text = page_text(page)
    mine = gcp(trainee)
    assert "GCP-101" in text and "LAB-1" in text
    assert f'id="status-{mine.id}"' in text and ">due</span>" in text
    assert f"due {mine.due_date.isoformat()}" in text
    assert f'id="sign-{mine.id}"' in text  # e-learning: signed by the trainee
    assert "recorded by your trainer" in text  # instructor-led
    assert 'name="attest"' in text  # not attested yet: the statement is part of the form
    assert "No completed training yet." in text


def test_anonymous_is_sent_to_login(team, client):
    response = client.get("/training/my")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_signing_from_the_page(team, client, login, db):
    _qa, trainee, _other = team
    mine = gcp(trainee)
    login(client, "tina")
    token = csrf_token(client, "/training/my")
    wrong = client.post(f"/training/assignments/{mine.id}/sign",
                        data={"csrf_token": token, "username": "tina", "password": WRONG,
                              "attest": "y"},
                        follow_redirects=True)
    assert wrong.status_code == 200
    assert "alert-danger" in page_text(wrong)
    db.session.expire_all()
    assert db.session.get(User, trainee.id).failed_logins == 1  # counts towards lockout
    assert gcp(trainee).state == "assigned"
    done = client.post(f"/training/assignments/{mine.id}/sign",
                       data={"csrf_token": token, "username": "tina",
                             "password": DEFAULT_PASSWORD, "attest": "y",
                             "comment": "Read it"}, follow_redirects=True)
    text = page_text(done)
    assert "read and understood, signed by Tina Trainee" in text
    db.session.expire_all()
    assert gcp(trainee).state == "completed"
    assert 'id="completed-training"' in text and "GCP essentials" in text
    assert f'id="sign-{mine.id}"' not in text


def test_another_users_assignment_is_not_found(team, client, login):
    _qa, _trainee, other = team
    theirs = gcp(other)
    login(client, "tina")
    token = csrf_token(client, "/training/my")
    for action in ("sign", "quiz"):
        response = client.post(f"/training/assignments/{theirs.id}/{action}",
                               data={"csrf_token": token, "password": DEFAULT_PASSWORD})
        assert response.status_code == 404
    assert client.post("/training/assignments/2147483647/sign",
                       data={"csrf_token": token}).status_code == 404
    assert gcp(other).state == "assigned"


def test_missing_csrf_token_is_refused(team, client, login):
    _qa, trainee, _other = team
    login(client, "tina")
    response = client.post(f"/training/assignments/{gcp(trainee).id}/sign",
                           data={"password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert gcp(trainee).state == "assigned"


def test_quiz_from_the_page_scores_and_limits_attempts(team, client, login):
    _qa, trainee, _other = team
    req = gcp(trainee).requirement
    with_quiz = req
    with_quiz.max_attempts = 2
    db.session.commit()
    quiz(with_quiz, ("Who signs read and understood?", ("The trainer", "The trainee"), 2),
         ("ALCOA+ A stands for", ("Attributable", "Approved"), 1))
    mine = gcp(trainee)
    login(client, "tina")
    text = page_text(client.get("/training/my"))
    assert f'id="quiz-{mine.id}"' in text and 'type="radio"' in text
    assert f'id="sign-{mine.id}"' not in text  # quiz first
    questions = sorted(q.id for q in with_quiz.questions)
    token = csrf_token(client, "/training/my")
    url = f"/training/assignments/{mine.id}/quiz"
    half = client.post(url, data={"csrf_token": token, f"q{questions[0]}": "2",
                                  f"q{questions[1]}": "2"}, follow_redirects=True)
    assert "quiz attempt 1 scored 50% (not passed; pass mark 80%)" in page_text(half)
    missing = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert missing.status_code == 200 and "choose 1-2" in page_text(missing)
    client.post(url, data={"csrf_token": token, f"q{questions[0]}": "1",
                           f"q{questions[1]}": "2"})
    used_up = client.post(url, data={"csrf_token": token, f"q{questions[0]}": "2",
                                     f"q{questions[1]}": "1"}, follow_redirects=True)
    text = page_text(used_up)
    assert "all 2 attempts are used" in text
    assert f'id="quiz-used-up-{mine.id}"' in text


def test_quiz_pass_then_sign(team, client, login):
    _qa, trainee, _other = team
    req = gcp(trainee).requirement
    quiz(req, ("Who signs read and understood?", ("The trainer", "The trainee"), 2))
    mine = gcp(trainee)
    login(client, "tina")
    token = csrf_token(client, "/training/my")
    [question] = req.questions
    passed = client.post(f"/training/assignments/{mine.id}/quiz",
                         data={"csrf_token": token, f"q{question.id}": "2"},
                         follow_redirects=True)
    text = page_text(passed)
    assert "scored 100% (passed" in text and f'id="sign-{mine.id}"' in text
    client.post(f"/training/assignments/{mine.id}/sign",
                data={"csrf_token": token, "username": "tina", "password": DEFAULT_PASSWORD,
                      "attest": "y"})
    db.session.expire_all()
    assert gcp(trainee).state == "completed" and gcp(trainee).score == 100


# -- the individual training record -------------------------------------------------------------


def complete_gcp(client, trainee):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/training/my")
    client.post(f"/training/assignments/{gcp(trainee).id}/sign",
                data={"csrf_token": token, "username": trainee.username,
                      "password": DEFAULT_PASSWORD, "attest": "y"})
    db.session.expire_all()
    assert gcp(trainee).state == "completed"


def test_own_training_record_pdf_shows_the_signature_manifestation(team, client, login):
    _qa, trainee, _other = team
    login(client, "tina")
    complete_gcp(client, trainee)
    assert 'id="my-training-record"' in page_text(client.get("/training/my"))
    response = post_with_token(client, f"/training/users/{trainee.id}/record.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert "Individual training record" in text
    assert "Tina Trainee" in text and "tina" in text
    assert "Trainee (all)" in text
    assert "GCP-101 GCP essentials" in text
    assert "Tina Trainee · Read and understood" in text  # the manifestation
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    assert "LAB-1" in text  # open: instructor-led, not recorded yet
    [entry] = exports("training_record_pdf")
    assert entry.entity_id == str(trainee.id) and "sha256" in entry.new_value


def test_training_record_of_others_needs_the_matrix_permission(team, client, login):
    qa, trainee, other = team
    login(client, "tina")
    assert post_with_token(client, f"/training/users/{other.id}/record.pdf").status_code == 404
    assert post_with_token(client, "/training/users/2147483647/record.pdf").status_code == 404
    manager = client.application.test_client()
    login(manager, "quinn")
    response = post_with_token(manager, f"/training/users/{trainee.id}/record.pdf")
    assert response.status_code == 200
    assert "Printed" in pdf_text(response.data) and "Quinn Quality" in pdf_text(response.data)


# -- the training matrix ----------------------------------------------------------------------


def test_matrix_page_shows_cells_compliance_and_record_links(team, client, login):
    _qa, trainee, _other = team
    login(client, "tina")
    complete_gcp(client, trainee)
    assert client.get("/admin/training_matrix/").status_code == 403  # a trainee: own only
    manager = client.application.test_client()
    login(manager, "quinn")
    page = manager.get("/admin/training_matrix/")
    assert page.status_code == 200
    text = page_text(page)
    cell = re.search(r'id="cell-tina-GCP-101"[^>]*>(.*?)</td>', text, re.S).group(1)
    assert "badge-success" in cell and ">current</span>" in cell
    assert ">due</span>" in re.search(r'id="cell-otto-GCP-101"[^>]*>(.*?)</td>', text,
                                      re.S).group(1)
    assert re.search(r'id="compliance-tina">1/2<', text)
    assert re.search(r'id="compliance-otto">0/2<', text)
    assert f"/training/users/{trainee.id}/record.pdf" in text
    assert 'id="export-matrix-csv"' in text and 'id="export-matrix-pdf"' in text


def test_matrix_filters_and_bad_filters(team, client, login, make_user):
    login(client, "quinn")
    only = page_text(client.get("/admin/training_matrix/?user=tina"))
    assert 'id="matrix-row-tina"' in only and 'id="matrix-row-otto"' not in only
    by_role = page_text(client.get("/admin/training_matrix/?role=trainee"))
    assert 'id="matrix-row-otto"' in by_role and 'id="matrix-row-quinn"' not in by_role
    for query, message in (("role=nope", "role: no role &#39;nope&#39;"),
                           ("study=NOPE", "study: no study &#39;NOPE&#39;"),
                           ("site=abc", "site: choose a site from the list"),
                           ("site=99999999999999999999", "site: at most 18 characters"),
                           ("user=" + "x" * 65, "user: at most 64 characters"),
                           ("user=ghost", "user: no user &#39;ghost&#39;"),
                           ("colour=red", "Unknown filter: colour")):
        response = client.get(f"/admin/training_matrix/?{query}")
        assert response.status_code == 400, query
        assert message in page_text(response), query
        assert 'id="matrix-filter-error"' in page_text(response)


def test_matrix_keyset_pages(team, client, login, make_user):
    from plugins.training import matrix_admin

    for name in ("ann", "bea", "cid"):
        make_user(name, "trainee")
    login(client, "quinn")
    page_size = matrix_admin.PAGE_SIZE
    matrix_admin.PAGE_SIZE = 2
    try:
        first = page_text(client.get("/admin/training_matrix/?role=trainee"))
        assert 'id="matrix-row-ann"' in first and 'id="matrix-row-bea"' in first
        assert 'id="matrix-row-cid"' not in first
        link = re.search(r'id="matrix-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        second = page_text(client.get(link))
        assert 'id="matrix-row-cid"' in second and 'id="matrix-row-ann"' not in second
    finally:
        matrix_admin.PAGE_SIZE = page_size


def test_matrix_csv_export_guards_formulas_and_is_audited(team, client, login, make_user):
    make_user("mallory", "trainee", full_name="=HYPERLINK(\"http://evil\")")
    login(client, "quinn")
    started = post_with_token(client, "/admin/training_matrix/export.csv",
                              query={"role": "trainee"})
    response = job_file(client, started)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    lines = text.splitlines()
    assert lines[0].startswith("username,name,compliant,required,GCP-101 GCP essentials")
    assert any(line.startswith("tina,Tina Trainee,0,2,due,due") for line in lines)
    mallory = next(line for line in lines if line.startswith("mallory"))
    assert "'=HYPERLINK" in mallory
    [entry] = exports("csv")
    assert "Training matrix: 3 people x 2 requirements" in entry.new_value
    assert "role=trainee" in entry.new_value
    assert hashlib.sha256(response.data).hexdigest() in entry.new_value
    assert entry.actor_id == User.by_username("quinn").id  # the job acts as who asked
    assert client.post("/admin/training_matrix/export.csv").status_code == 400  # no CSRF token
    bad = post_with_token(client, "/admin/training_matrix/export.csv", query={"role": "x"})
    assert bad.status_code == 400 and "no role" in bad.get_data(as_text=True)


def test_matrix_pdf_export(team, client, login):
    _qa, trainee, _other = team
    login(client, "tina")
    complete_gcp(client, trainee)
    manager = client.application.test_client()
    login(manager, "quinn")
    response = job_file(manager, post_with_token(manager, "/admin/training_matrix/export.pdf"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert "Training matrix" in text and "Tina Trainee (tina)" in text
    assert "current" in text and "due" in text and "GCP-101" in text
    [entry] = exports("pdf")
    assert hashlib.sha256(response.data).hexdigest() in entry.new_value


def test_an_export_job_is_only_its_requesters(team, client, login):
    login(client, "quinn")
    started = post_with_token(client, "/admin/training_matrix/export.csv")
    assert job_file(client, started).status_code == 200
    job_url = started.headers["Location"]
    listing = page_text(client.get("/admin/core_jobs/"))
    assert "Training matrix (CSV)" in listing and "Ready" in listing
    other = client.application.test_client()
    login(other, "tina")
    assert other.get(job_url).status_code == 404
    assert other.get(job_url.rstrip("/") + "/file").status_code == 404
    assert "Training matrix" not in page_text(other.get("/admin/core_jobs/"))


# -- dashboard cards ----------------------------------------------------------------------------


def test_dashboard_cards(team, client, login, db):
    _qa, trainee, other = team
    late = gcp(other)
    with server_write("training_assignment"), audit_reason("test set-up: overdue"):
        late.due_date = utcnow().date().replace(year=2000)
        db.session.commit()
    login(client, "tina")
    complete_gcp(client, trainee)
    text = page_text(client.get("/admin/"))
    assert 'id="widget-training_my"' in text and 'id="training-open">1<' in text
    assert 'href="/training/my"' in text
    assert 'id="widget-training_compliance"' not in text  # a trainee has no matrix view
    manager = client.application.test_client()
    login(manager, "quinn")
    text = page_text(manager.get("/admin/"))
    assert 'id="widget-training_compliance"' in text
    by_role = re.search(r'id="compliance-by-role".*?</table>', text, re.S).group(0)
    assert "<td>trainee</td><td>2</td><td>25%" in by_role  # 1 of 4 cells trained
    assert re.search(r'id="training-overdue-total"[^>]*>1<', text)
    assert 'href="/admin/training_matrix/"' in text


# -- with document control: the SOP to read -----------------------------------------------------


@pytest.mark.plugins("documents", "training")
def test_document_requirement_offers_the_controlled_copy(app, client, login, make_user,
                                                         system_actor):
    from core import SignatureRequest, add_attachment, transition
    from plugins.documents.services import create_document, create_version, seed_types

    people = {n: make_user(n, r) for n, r in (("alice", "author"), ("rita", "reviewer"),
                                               ("bob", "approver"), ("quinn", "qa_manager"),
                                               ("tina", "trainee"))}
    attested(people["rita"], people["bob"], people["quinn"])
    seed_types()
    document = create_document(people["alice"], title="IP handling", type_code="SOP")
    db.session.commit()
    version = create_version(document, people["alice"])
    add_attachment(version, people["alice"], "sop.pdf", io.BytesIO(b"%PDF-1.7\n%%EOF\n"))
    db.session.commit()
    for name, who, signed in (("submit", "alice", False), ("review", "rita", True),
                              ("approve", "bob", True), ("make_effective", "quinn", False)):
        transition(version, name, people[who],
                   signature=SignatureRequest(DEFAULT_PASSWORD) if signed else None)
        db.session.commit()
    requirement("SOP-IP", kind="document", title="IP handling", document_id=document.id)
    curriculum(people["quinn"], "trainee", "SOP-IP")
    [mine] = assignments_of(people["tina"])
    login(client, "tina")
    text = page_text(client.get("/training/my"))
    assert f'id="read-{mine.id}"' in text
    assert f'action="/documents/versions/{version.id}/pdf"' in text
    assert 'name="copy" value="controlled"' in text
    response = post_with_token(client, f"/documents/versions/{version.id}/pdf",
                               data={"copy": "controlled"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"


def test_open_training_is_in_the_trainee_s_tasks_until_it_is_done(team, client, login):
    _qa, trainee, _other = team
    from core import Task

    def tasks():  # type: ignore[no-untyped-def]
        db.session.expire_all()
        return {(t.title, t.state, t.due) for t in db.session.scalars(select(Task).where(
            Task.assignee_id == trainee.id, Task.kind == "training.complete"))}

    assignment = gcp(trainee)
    assert ("Complete training GCP-101 GCP essentials", "open", assignment.due_date) in tasks()
    login(client, "tina")
    assert "Complete training GCP-101 GCP essentials" in page_text(
        client.get("/admin/core_tasks/"))  # one inbox: My tasks lists training too
    complete_gcp(client, trainee)
    assert ("Complete training GCP-101 GCP essentials", "done", assignment.due_date) in tasks()

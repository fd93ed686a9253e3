"""The training plugin through the JSON API: its own endpoints (matrix, qualification, my
training, quizzes, requirements) and assignments driven through the core's record endpoints,
with bearer tokens, permissions, study/site scope and problem+json errors."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select
from training_helpers import (
    PDF,
    assignments_of,
    attested,
    curriculum,
    effective,
    quiz,
    requirement,
    sig,
    step,
)

from core import Site, Study, add_attachment, audit_reason, db, update_record, utcnow
from core.audit.models import AuditEntry
from core.testing import DEFAULT_PASSWORD, UNLIMITED_ATTEMPTS
from core.testing_api import ApiCaller, ok, problem

pytestmark = pytest.mark.plugins("training")


@pytest.fixture
def app_config() -> dict:
    return dict(UNLIMITED_ATTEMPTS)  # the contract test asks for many tokens
API = "/api/v1"


def signed(**extra):  # type: ignore[no-untyped-def]
    return {"signature": {"password": DEFAULT_PASSWORD, **extra}}


@pytest.fixture
def team(app, make_user, system_actor):
    people = {name: make_user(name, role) for name, role in (
        ("quinn", "qa_manager"), ("terry", "trainer"), ("tina", "trainee"),
        ("olga", "trainee"))}
    attested(*people.values())
    return people


@pytest.fixture
def callers(client, team):
    return {name: ApiCaller(client, name) for name in team}


def studies():  # type: ignore[no-untyped-def]
    """Study S-1 with site 101 (Berlin) and study S-2 with site 101 (Lyon): the same code."""
    with audit_reason("test set-up"):
        one, two = Study(code="S-1", title="Study one"), Study(code="S-2", title="Study two")
        db.session.add_all([one, two])
        db.session.flush()
        berlin = Site(study_id=one.id, code="101", name="Berlin", country="DE")
        lyon = Site(study_id=two.id, code="101", name="Lyon", country="FR")
        db.session.add_all([berlin, lyon])
        db.session.flush()
    db.session.commit()
    return berlin, lyon


# -- the matrix ----------------------------------------------------------------------------------


@pytest.mark.req("ISO-10")
def test_matrix_json_its_filters_and_pages(team, callers, make_user):
    quinn, tina = callers["quinn"], callers["tina"]
    berlin, _lyon = studies()
    requirement("GCP-101")
    requirement("DI-1", title="Data integrity", expiry_months=12)
    requirement("S1-PROT", title="Protocol S-1")
    curriculum(team["quinn"], "trainee", "GCP-101", "DI-1")
    curriculum(team["quinn"], "site_monitor", "S1-PROT", study_id=berlin.study_id)
    make_user("sam", "site_monitor", site=berlin)
    mine = {a.requirement.code: a for a in assignments_of(team["tina"])}
    step(mine["GCP-101"], "complete", team["tina"], signature=sig())
    theirs = {a.requirement.code: a for a in assignments_of(team["olga"])}
    update_record(theirs["DI-1"], team["quinn"], expected_version=theirs["DI-1"].version,
                  reason="test: overdue", due_date=utcnow().date() - timedelta(days=1))
    db.session.commit()

    body = ok(quinn.get("/training/matrix?role=trainee"))
    assert [(r["code"], r["kind"]) for r in body["requirements"]] == [
        ("DI-1", "elearning"), ("GCP-101", "elearning")]
    assert set(body["requirements"][0]) == {"id", "code", "title", "kind"}
    rows = {row["user"]: row for row in body["rows"]}
    assert list(rows) == ["olga", "tina"] and body["next"] is None
    tina_row = rows["tina"]
    assert tina_row["full_name"] == "Tina Tester"
    assert tina_row["cells"]["GCP-101"] == {
        "status": "current", "assignment": mine["GCP-101"].number, "due": None,
        "expires": None}
    assert tina_row["cells"]["DI-1"]["status"] == "due"
    assert tina_row["cells"]["DI-1"]["due"] == mine["DI-1"].due_date.isoformat()
    assert (tina_row["compliant"], tina_row["required"]) == (1, 2)
    assert rows["olga"]["cells"]["DI-1"]["status"] == "overdue"
    assert (rows["olga"]["compliant"], rows["olga"]["required"]) == (0, 2)

    everyone = ok(quinn.get("/training/matrix"))
    assert [r["code"] for r in everyone["requirements"]] == ["DI-1", "GCP-101", "S1-PROT"]
    sam = next(row for row in everyone["rows"] if row["user"] == "sam")
    assert set(sam["cells"]) == {"S1-PROT"}  # absent cells: not required of them
    for query in ("study=S-1", "site=S-1/101", "study=S-1&site=101"):
        assert [row["user"] for row in ok(quinn.get(f"/training/matrix?{query}"))["rows"]] == [
            "sam"], query
    assert ok(quinn.get("/training/matrix?study=S-2"))["rows"] == []
    assert [row["user"] for row in ok(quinn.get("/training/matrix?user=tina"))["rows"]] == [
        "tina"]
    first = ok(quinn.get("/training/matrix?role=trainee&limit=1"))
    assert [row["user"] for row in first["rows"]] == ["olga"] and first["next"] == "olga"
    rest = ok(quinn.get(f"/training/matrix?role=trainee&limit=1&after={first['next']}"))
    assert [row["user"] for row in rest["rows"]] == ["tina"] and rest["next"] is None

    for query, field in (("role=nope", "role"), ("study=S-9", "study"), ("site=999", "site"),
                         ("site=101", "site"),  # two studies have a site 101
                         ("site=S-9/101", "site"), ("study=S-2&site=S-1/101", "site"),
                         ("user=ghost", "user"), ("limit=0", "limit"), ("limit=x", "limit"),
                         ("colour=red", "colour"), ("study=%00", "study")):
        problem(quinn.get(f"/training/matrix?{query}"), 400, field)
    problem(tina.get("/training/matrix"), 403)  # training.view_matrix is needed
    problem(quinn.client.get(f"{API}/training/matrix"), 401)  # no token


@pytest.mark.req("E6-10")
def test_site_scoped_viewer_sees_no_assignments_of_another_study(team, callers, make_user,
                                                                   client):
    berlin, lyon = studies()
    requirement("GCP-101")
    curriculum(team["quinn"], "site_monitor", "GCP-101")
    sam = make_user("sam", "site_monitor", site=berlin)
    otto = make_user("otto", "site_monitor", site=lyon)
    make_user("vera", "auditor", site=berlin)  # training.view_matrix at site S-1/101 only
    [sams] = assignments_of(sam)
    [ottos] = assignments_of(otto)
    assert (sams.site_id, ottos.site_id) == (berlin.id, lyon.id)
    vera = ApiCaller(client, "vera")

    listed = ok(vera.get("/records/training_assignment"))
    assert [item["number"] for item in listed["items"]] == [sams.number]
    problem(vera.get(f"/records/training_assignment/{ottos.id}"), 404)
    assert ok(vera.get(f"/records/training_assignment/{sams.id}"))["site"] == "101"
    matrix = ok(vera.get("/training/matrix"))
    seen = {row["user"] for row in matrix["rows"]}
    assert "sam" in seen and "otto" not in seen  # people with global roles are shown too
    assert ok(vera.get("/training/matrix?role=site_monitor"))["rows"][0]["user"] == "sam"
    assert len(ok(vera.get("/training/matrix?role=site_monitor"))["rows"]) == 1
    problem(vera.get("/training/matrix?study=S-2"), 400, "study")  # not in her scope
    problem(vera.get("/training/matrix?site=S-2/101"), 400, "site")
    problem(vera.get("/training/matrix?user=otto"), 400, "user")
    problem(vera.get(f"/training/assignments/{ottos.id}/quiz"), 404)
    everyone = ok(callers["quinn"].get("/training/matrix"))  # a global viewer sees both
    assert {"sam", "otto"} <= {row["user"] for row in everyone["rows"]}


# -- an assignment's life cycle through the core's records API ----------------------------------


@pytest.mark.req("ISO-10")
def test_assignment_life_cycle_through_the_records_api(team, callers, client, make_user):
    quinn, tina, olga, terry = (callers[n] for n in ("quinn", "tina", "olga", "terry"))
    ok(quinn.post("/training/requirements", json={
        "code": "GCP-101", "title": "GCP essentials", "kind": "elearning",
        "expiry_months": 12, "reason": "New GCP course"}), 201)
    created = ok(quinn.post("/records/training_curriculum", json={
        "title": "Trainees", "role_key": "trainee", "requirement_codes": "GCP-101"}), 201)
    approved = ok(quinn.post(f"/records/training_curriculum/{created['id']}/transitions/approve",
                             json=signed()))
    assert approved["state"] == "active"
    [assignment] = assignments_of(team["tina"])
    url = f"/records/training_assignment/{assignment.id}"

    [mine] = ok(tina.get("/training/my"))
    assert mine == {"id": assignment.id, "number": assignment.number,
                    "title": "GCP-101: GCP essentials", "requirement": "GCP-101",
                    "kind": "elearning", "version_label": "", "state": "assigned",
                    "status": "due", "due_date": assignment.due_date.isoformat(),
                    "expires_on": None, "quiz_pending": False}
    listed = ok(tina.get("/records/training_assignment"))
    assert [item["number"] for item in listed["items"]] == [assignment.number]
    assert "complete" in listed["items"][0]["actions"]
    problem(olga.get(url), 404)  # another trainee's training does not exist for her
    problem(olga.post(f"{url}/transitions/complete", json=signed()), 404)
    refused = problem(terry.post(f"{url}/transitions/complete", json=signed()), 409)
    assert "only Tina Tester" in refused["detail"] and "may sign" in refused["detail"]
    problem(quinn.post(f"{url}/transitions/complete", json=signed()), 409)
    problem(tina.post(f"{url}/transitions/complete", json={}), 422)  # a signature is needed
    problem(tina.post(f"{url}/transitions/complete",
                      json={"signature": {"password": "wrong-password-123"}}), 401)
    done = ok(tina.post(f"{url}/transitions/complete", json=signed()))
    assert done["state"] == "completed" and done["completed_at"]
    [signature] = ok(tina.get(f"{url}/signatures"))
    assert (signature["signer"], signature["meaning"]) == ("tina", "read_and_understood")
    [mine] = ok(tina.get("/training/my"))
    assert (mine["state"], mine["status"]) == ("completed", "current")
    assert mine["expires_on"] == assignment.expires_on.isoformat()
    matrix = ok(quinn.get("/training/matrix?user=tina"))
    assert matrix["rows"][0]["cells"]["GCP-101"]["status"] == "current"
    make_user("nobody")
    problem(ApiCaller(client, "nobody").get("/training/my"), 403)


# -- quizzes -------------------------------------------------------------------------------------


@pytest.mark.req("ISO-10")
def test_quiz_is_shown_without_answers_and_scored_for_the_trainee_only(team, callers):
    quinn, tina, olga, terry = (callers[n] for n in ("quinn", "tina", "olga", "terry"))
    req = requirement("GCP-101", pass_mark=100, max_attempts=3)
    quiz(req, ("Who signs read and understood?", ["the trainee", "the trainer"], 1),
         ("Timestamps are stored in", ["local time", "UTC", "either"], 2))
    curriculum(team["quinn"], "trainee", "GCP-101")
    [assignment] = assignments_of(team["tina"])
    url = f"/training/assignments/{assignment.id}/quiz"

    shown = ok(tina.get(url))
    assert shown == {"assignment": assignment.number, "requirement": "GCP-101",
                     "state": "assigned", "pass_mark": 100, "attempts_used": 0,
                     "attempts_allowed": 3, "passed": False, "questions": [
                         {"position": 1, "text": "Who signs read and understood?",
                          "choices": ["the trainee", "the trainer"]},
                         {"position": 2, "text": "Timestamps are stored in",
                          "choices": ["local time", "UTC", "either"]}]}
    assert ok(tina.get("/training/my"))[0]["quiz_pending"] is True
    assert ok(quinn.get(url))["questions"]  # training.manage may look
    problem(terry.get(url), 403)  # sees the assignment (matrix), may not see the quiz
    problem(olga.get(url), 404)
    problem(tina.get("/training/assignments/999999/quiz"), 404)
    problem(tina.get("/training/assignments/2147483648/quiz"), 404)  # past the converter

    problem(quinn.post(url, json={"answers": [1, 2]}), 403)  # the trainee only
    problem(olga.post(url, json={"answers": [1, 2]}), 404)
    problem(tina.post(url, json={"answers": [1]}), 422, "answers")  # one per question
    problem(tina.post(url, json={"answers": [1, 7]}), 422, "answers")  # no choice 7
    problem(tina.post(url, json={"answers": ["one", 2]}), 422, "answers.0")
    problem(tina.post(url, json={}), 422, "answers")
    problem(tina.post(url, json={"answers": [1, 2], "cheat": True}), 422, "cheat")
    assert ok(tina.get(url))["attempts_used"] == 0  # refused attempts are not kept
    first = ok(tina.post(url, json={"answers": [1, 1]}), 201)
    assert (first["attempt"], first["score"], first["passed"]) == (1, 50, False)
    completing = f"/records/training_assignment/{assignment.id}/transitions/complete"
    assert "pass the quiz" in problem(tina.post(completing, json=signed()), 409)["detail"]
    second = ok(tina.post(url, json={"answers": [1, 2]}), 201)
    assert (second["attempt"], second["score"], second["passed"]) == (2, 100, True)
    assert "passed already" in problem(tina.post(url, json={"answers": [1, 2]}), 409)["detail"]
    after = ok(tina.get(url))
    assert (after["attempts_used"], after["passed"]) == (2, True)
    assert ok(tina.get("/training/my"))[0]["quiz_pending"] is False
    ok(tina.post(completing, json=signed()))
    assert db.session.get(type(assignment), assignment.id).score == 100
    problem(tina.post(url, json={"answers": [1, 2]}), 409)  # completed: nothing to take


def test_quiz_attempts_run_out(team, callers):
    req = requirement("GCP-101", pass_mark=100, max_attempts=1)
    quiz(req, ("2 + 2?", ["4", "5"], 1))
    curriculum(team["quinn"], "trainee", "GCP-101")
    [assignment] = assignments_of(team["tina"])
    url = f"/training/assignments/{assignment.id}/quiz"
    assert ok(callers["tina"].post(url, json={"answers": [2]}), 201)["passed"] is False
    body = problem(callers["tina"].post(url, json={"answers": [1]}), 409)
    assert "all 1 attempts are used" in body["detail"]


# -- requirements --------------------------------------------------------------------------------


def test_requirements_are_listed_by_code_and_created_with_a_reason(team, callers, make_user,
                                                                     client):
    quinn, tina = callers["quinn"], callers["tina"]
    made = ok(quinn.post("/training/requirements", json={
        "code": "GCP-101", "title": "GCP essentials", "kind": "elearning", "pass_mark": 90,
        "reason": "New GCP course"}), 201)
    assert made == {"id": made["id"], "code": "GCP-101", "title": "GCP essentials",
                    "kind": "elearning", "document": None, "expiry_months": 0, "pass_mark": 90,
                    "max_attempts": 3, "description": "", "active": True, "questions": 0}
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "training_requirement", AuditEntry.field == "code")).all()
    assert entry.actor_name.startswith("Quinn Tester") and entry.reason == "New GCP course"
    assert entry.client.startswith("api-token:")
    for code, kind in (("A-1", "external"), ("B-2", "instructor_led"), ("C-3", "elearning")):
        ok(quinn.post("/training/requirements", json={
            "code": code, "title": code, "kind": kind, "reason": "set-up"}), 201)

    page = ok(tina.get("/training/requirements?limit=2"))
    assert [r["code"] for r in page["items"]] == ["A-1", "B-2"] and page["next"] == "B-2"
    rest = ok(tina.get(f"/training/requirements?limit=2&after={page['next']}"))
    assert [r["code"] for r in rest["items"]] == ["C-3", "GCP-101"] and rest["next"] is None
    elearning = ok(tina.get("/training/requirements?kind=elearning"))["items"]
    assert [r["code"] for r in elearning] == ["C-3", "GCP-101"]
    problem(tina.get("/training/requirements?kind=lecture"), 400, "kind")
    problem(tina.get("/training/requirements?limit=500"), 400, "limit")

    good = {"code": "X-1", "title": "X", "kind": "elearning", "reason": "why"}
    for change, field in (({"pass_mark": 0}, "pass_mark"), ({"max_attempts": 21}, "max_attempts"),
                          ({"expiry_months": "12"}, "expiry_months"), ({"kind": "lecture"}, "kind"),
                          ({"code": "has space"}, "code"), ({"code": "GCP-101"}, "code"),
                          ({"title": "  "}, "title"), ({"reason": ""}, "reason"),
                          ({"colour": "red"}, "colour"), ({"document": "SOP-0001"}, "document"),
                          ({"kind": "document"}, "document")):
        problem(quinn.post("/training/requirements", json={**good, **change}), 422, field)
    missing = {k: v for k, v in good.items() if k != "reason"}
    problem(quinn.post("/training/requirements", json=missing), 422, "reason")
    problem(tina.post("/training/requirements", json=good), 403)
    berlin, _lyon = studies()
    make_user("stella", "qa_manager", study=berlin.study)  # training.manage in one study only
    problem(ApiCaller(client, "stella").post("/training/requirements", json=good), 403)
    assert [r["code"] for r in ok(tina.get("/training/requirements"))["items"]] == [
        "A-1", "B-2", "C-3", "GCP-101"]  # nothing refused was written


def test_qualification_needs_document_control(team, callers):
    body = problem(callers["tina"].get("/training/qualification?document=SOP-0001"), 404)
    assert body["detail"] == "document control is not enabled"
    problem(callers["tina"].get("/training/qualification?document=SOP-0001&user=olga"), 403)


# -- qualification at a moment (documents + training) --------------------------------------------


@pytest.fixture
def documents_team(app, make_user, system_actor):
    from plugins.documents.services import seed_types

    seed_types()
    db.session.commit()
    people = {name: make_user(name, *roles) for name, roles in (
        ("alice", ("author",)), ("rita", ("reviewer",)), ("bob", ("approver",)),
        ("quinn", ("qa_manager",)), ("tina", ("trainee",)), ("olga", ("trainee",)))}
    attested(*(u for k, u in people.items() if k != "alice"))
    return people


@pytest.mark.plugins("documents", "training")
@pytest.mark.req("ISO-10")
def test_qualification_at_a_past_moment(documents_team, client):
    from plugins.documents.services import create_document, create_version, revise

    people = documents_team
    quinn, tina, olga = (ApiCaller(client, n) for n in ("quinn", "tina", "olga"))
    document = create_document(people["alice"], title="Handling of IMP", type_code="SOP")
    db.session.commit()
    v1 = effective(create_version(document, people["alice"]), people)
    made = ok(quinn.post("/training/requirements", json={
        "code": "IMP-SOP", "title": "Handling of IMP", "kind": "document",
        "document": document.number, "reason": "SOP needs training"}), 201)
    assert made["document"] == document.number
    problem(quinn.post("/training/requirements", json={
        "code": "IMP-2", "title": "x", "kind": "document", "document": "SOP-9999",
        "reason": "x"}), 422, "document")
    curriculum(people["quinn"], "trainee", "IMP-SOP")
    [first] = assignments_of(people["tina"])
    assert first.version_label == v1.version_label
    step(first, "complete", people["tina"], signature=sig())
    v2 = revise(document, people["alice"], major=True, change_summary="New storage",
                change_reason="Deviation")
    db.session.commit()
    effective(v2, people)  # tina is not retrained on v2
    trained_at = first.completed_at + (v2.effective_at - first.completed_at) / 2
    just_after = v2.effective_at + timedelta(seconds=1)

    def ask(caller, **params):  # type: ignore[no-untyped-def]
        return caller.get("/training/qualification", query_string={
            "document": document.number, **params})

    then = ok(ask(quinn, user="tina", at=trained_at.isoformat()))
    assert then["qualified"] is True and then["reason"] == ""
    assert then["version"]["number"] == v1.number and then["user"] == "tina"
    [evidence] = then["evidence"]
    assert (evidence["assignment"], evidence["state"]) == (first.number, "completed")
    assert evidence["signatures"][0]["meaning"] == "read_and_understood"
    later = ok(ask(quinn, user="tina", at=just_after.isoformat()))
    assert later["qualified"] is False and later["version"]["number"] == v2.number
    assert "had not completed training" in later["reason"] and later["evidence"] == []
    assert ok(ask(tina))["qualified"] is False  # now, about herself (training.view)
    assert ok(ask(tina, at=trained_at.isoformat()))["qualified"] is True
    before = ok(ask(quinn, user="tina", at=(v1.effective_at - timedelta(days=1)).isoformat()))
    assert before["version"] is None and before["qualified"] is False
    [old, new] = sorted(ok(tina.get("/training/my")), key=lambda a: a["id"])
    assert (old["status"], new["status"]) == ("outdated", "due")  # v1 done, v2 to read
    assert new["version_label"] == v2.version_label

    problem(ask(quinn, user="tina", at="2026-01-01T10:00:00"), 400, "at")  # naive
    problem(ask(quinn, user="tina", at="yesterday"), 400, "at")
    problem(ask(quinn, user="ghost"), 400, "user")
    problem(quinn.get("/training/qualification?document=SOP-9999"), 400, "document")
    problem(quinn.get("/training/qualification"), 400, "document")
    problem(ask(olga, user="tina"), 403)  # about others: training.view_matrix


@pytest.mark.plugins("documents", "training")
@pytest.mark.req("P11-11")
def test_gated_signature_through_the_api_until_the_signer_is_trained(documents_team, client):
    from core import link_records
    from core.settings import set_setting
    from plugins.documents.services import create_document, create_version

    people = documents_team
    quinn, rita = ApiCaller(client, "quinn"), ApiCaller(client, "rita")
    document = create_document(people["alice"], title="Handling of IMP", type_code="SOP")
    db.session.commit()
    effective(create_version(document, people["alice"]), people)
    ok(quinn.post("/training/requirements", json={
        "code": "IMP-SOP", "title": "Handling of IMP", "kind": "document",
        "document": document.number, "reason": "SOP needs training"}), 201)
    curriculum(people["quinn"], "reviewer", "IMP-SOP")
    form = create_document(people["alice"], title="Temperature log", type_code="FORM")
    db.session.commit()
    version = create_version(form, people["alice"])
    db.session.commit()
    link_records(version, document, "governed_by", people["alice"])
    add_attachment(version, people["alice"], "form.pdf", io.BytesIO(PDF))
    db.session.commit()
    step(version, "submit", people["alice"])
    with audit_reason("test: switch the gate on"):
        set_setting("training.gate_signatures", True)
    db.session.commit()
    review = f"/records/documents_version/{version.id}/transitions/review"
    refused = problem(rita.post(review, json=signed()), 409)
    assert f"rita is not trained on {document.number}" in refused["detail"]
    [mine] = ok(rita.get("/training/my"))
    assert (mine["requirement"], mine["status"]) == ("IMP-SOP", "due")
    ok(rita.post(f"/records/training_assignment/{mine['id']}/transitions/complete",
                 json=signed()))
    ok(rita.post(review, json=signed()))  # trained now: the signature is accepted
    signatures = ok(rita.get(f"/records/documents_version/{version.id}/signatures"))
    assert [(s["signer"], s["meaning"]) for s in signatures] == [("rita", "reviewed")]


# -- the contract of the training operations (tests/test_api_fuzz.py enables no training) -------


@pytest.mark.plugins("documents", "training")
@pytest.mark.parametrize("username", ["quinn", "tina"])
def test_training_operations_hold_their_contract(app, make_user, system_actor, username):
    import schemathesis
    from schemathesis import GenerationMode
    from test_api_fuzz import CHECKS, NEGATIVE_CHECKS, Bearer, fresh_g, fuzz

    berlin, _lyon = studies()
    qa = make_user("quinn", "qa_manager")
    make_user("sam", "site_monitor", site=berlin)
    attested(qa, make_user("tina", "trainee"))
    req = requirement("GCP-101", pass_mark=100)
    quiz(req, ("2 + 2?", ["4", "5"], 1))
    curriculum(qa, "trainee", "GCP-101")
    curriculum(qa, "site_monitor", "GCP-101")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fresh_g(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith("/api/v1/training/")]
    assert len(operations) == 9
    bearer = Bearer(app.test_client(), username)
    failures: list[str] = []
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, CHECKS, bearer, failures)
        fuzz(operation, GenerationMode.NEGATIVE, NEGATIVE_CHECKS, bearer, failures)
    assert not failures, "\n\n".join(failures[:10])

"""``cqms demo`` loads demo training through the core's ``load_demo_data`` hook, idempotently:
with document control (requirements for the effective demo SOPs) and with courses only."""

from __future__ import annotations

import pytest
import test_cli
from test_cli import PASSWORD, query

cqms = test_cli.cqms  # the fixture of the CLI tests

ASSIGNMENTS = """SELECT u.username, q.code, r.state FROM training_assignment a
JOIN core_record r ON r.id = a.id JOIN core_user u ON u.id = a.trainee_id
JOIN training_requirement q ON q.id = a.requirement_id ORDER BY u.username, q.code, r.state"""
CURRICULA = """SELECT c.role_key, r.state, r.study_id IS NOT NULL, c.requirement_codes
FROM training_curriculum c JOIN core_record r ON r.id = c.id ORDER BY c.role_key"""


def _snapshot(cqms):  # type: ignore[no-untyped-def]
    return {
        "assignments": query(cqms, ASSIGNMENTS),
        "curricula": query(cqms, CURRICULA),
        "requirements": query(cqms, "SELECT code, kind, document_id, expiry_months, pass_mark "
                                    "FROM training_requirement ORDER BY code"),
        "questions": query(cqms, "SELECT count(*) FROM training_question"),
        "signatures": query(cqms, "SELECT count(*) FROM core_signature"),
        "attempts": query(cqms, "SELECT count(*) FROM training_quiz_attempt"),
        "audit": query(cqms, "SELECT count(*) FROM core_audit_entry"),
    }


@pytest.mark.req("ISO-10")
def test_demo_trains_on_the_demo_sops_once(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("CQMS_PLUGINS", "documents,training")
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert ("training: 3 document and 2 course requirements, 3 curricula created, 3 approved"
            in out), out
    assert "the trainee completed one" in out
    first = _snapshot(cqms)
    requirements = {code: (kind, document, expiry, mark)
                    for code, kind, document, expiry, mark in first["requirements"]}
    assert requirements.keys() == {"SOP-0001", "SOP-0002", "PLAN-0001", "GCP-CLASS", "DI-BASICS"}
    assert requirements["DI-BASICS"] == ("elearning", None, 12, 67)
    assert requirements["GCP-CLASS"][0] == "instructor_led"
    assert all(requirements[c][0] == "document" and requirements[c][1] for c in
               ("SOP-0001", "SOP-0002", "PLAN-0001"))
    assert first["questions"] == [(3,)]
    curricula = {role: (state, in_study, codes.split("\n"))
                 for role, state, in_study, codes in first["curricula"]}
    assert curricula["site_monitor"] == ("active", 1, ["SOP-0002", "PLAN-0001", "GCP-CLASS",
                                                       "DI-BASICS"])
    assert curricula["trainee"][:2] == curricula["author"][:2] == ("active", 0)
    trainee = [(code, state) for user, code, state in first["assignments"] if user == "trainee"]
    # The demo SOPs are assigned (one signed read and understood), with the two courses.
    assert trainee == [("DI-BASICS", "assigned"), ("GCP-CLASS", "assigned"),
                       ("SOP-0001", "completed"), ("SOP-0002", "assigned")]
    monitor = {code for user, code, _state in first["assignments"] if user == "site_monitor"}
    assert monitor == {"SOP-0002", "PLAN-0001", "GCP-CLASS", "DI-BASICS"}
    assert {code for user, code, _s in first["assignments"] if user == "author"} == {
        "SOP-0001", "DI-BASICS"}

    status, out, err = cqms("demo")
    assert status == 0, err
    assert "0 curricula created, 0 approved" in out and "completed one" not in out
    assert _snapshot(cqms) == first  # the second run changes nothing
    status, out, err = cqms("audit", "verify")
    assert status == 0, out + err


def test_demo_with_courses_only(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("CQMS_PLUGINS", "training")
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert "training: 0 document and 2 course requirements, 3 curricula created, 3 approved" in out
    first = _snapshot(cqms)
    assert [code for code, *_rest in first["requirements"]] == ["DI-BASICS", "GCP-CLASS"]
    trainee = [(code, state) for user, code, state in first["assignments"] if user == "trainee"]
    # The e-learning is completed after its quiz (pass mark 67%).
    assert trainee == [("DI-BASICS", "completed"), ("GCP-CLASS", "assigned")]
    assert first["attempts"] == [(1,)]
    status, out, err = cqms("demo")
    assert status == 0, err
    assert _snapshot(cqms) == first


def test_demo_without_passwords_leaves_curricula_as_drafts(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_PLUGINS", "documents")
    cqms("db", "upgrade")
    status, _out, err = cqms("demo")  # accounts and effective SOPs, no training yet
    assert status == 0, err
    (cqms.instance / "demo-passwords.txt").unlink()  # passwords no longer known
    monkeypatch.setenv("CQMS_PLUGINS", "documents,training")
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert "3 document and 2 course requirements, 3 curricula created, 0 approved, " \
           "0 assignments (3 curricula left as drafts" in out, out
    assert {state for _role, state, *_rest in query(cqms, CURRICULA)} == {"draft"}

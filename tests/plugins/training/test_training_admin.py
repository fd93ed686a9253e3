"""The training plugin in the admin: requirements and quiz questions (reference data), and
curricula and assignments on the core's record pages (forms without server-owned fields,
signing, refusals shown with the form)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from training_helpers import assignments_of, attested, curriculum, requirement

from core import db
from core.testing import DEFAULT_PASSWORD, csrf_token
from plugins.training.models import Curriculum, TrainingRequirement

pytestmark = pytest.mark.plugins("training")
REQUIREMENTS = "/admin/training_requirement/"
CURRICULA = "/admin/training_curriculum/"
ASSIGNMENTS = "/admin/training_assignment/"


@pytest.fixture
def team(app, make_user, system_actor):
    qa = make_user("quinn", "qa_manager")
    trainee = make_user("tina", "trainee")
    attested(qa, trainee)
    return qa, trainee


def switch(client, login, username):  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, username)


def test_requirements_are_created_with_a_reason_and_bad_input_reshows_the_form(client, login,
                                                                               team):
    login(client, "quinn")
    token = csrf_token(client, REQUIREMENTS + "new/")
    page = client.post(REQUIREMENTS + "new/", data={
        "csrf_token": token, "code": "DOC-X", "title": "Read it", "kind": "document",
        "document_number": "SOP-9999", "expiry_months": "0", "pass_mark": "80",
        "max_attempts": "3", "description": "", "reason": "New requirement"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "No controlled document" in text
    assert db.session.scalar(select(TrainingRequirement)) is None
    page = client.post(REQUIREMENTS + "new/", data={
        "csrf_token": token, "code": "GCP-101", "title": "GCP essentials", "kind": "elearning",
        "document_number": "", "expiry_months": "24", "pass_mark": "80", "max_attempts": "3",
        "description": "", "active": "y", "reason": "New requirement"})
    assert page.status_code == 302, page.get_data(as_text=True)
    created = db.session.scalar(select(TrainingRequirement))
    assert (created.code, created.kind, created.expiry_months) == ("GCP-101", "elearning", 24)
    switch(client, login, "tina")  # a trainee reads the list but does not write
    assert client.get(REQUIREMENTS).status_code == 200
    assert client.get(REQUIREMENTS + "new/").status_code == 403


@pytest.mark.req("ISO-10", "P11-08")
def test_a_curriculum_is_created_and_approved_with_the_sign_dialog(client, login, team):
    _qa, trainee = team
    requirement("GCP-101")
    login(client, "quinn")
    form = client.get(CURRICULA + "new/").get_data(as_text=True)
    assert 'name="role_key"' in form and 'name="state"' not in form
    token = csrf_token(client, CURRICULA + "new/")
    page = client.post(CURRICULA + "new/", data={
        "csrf_token": token, "title": "Trainee basics", "role_key": "trainee", "country": "",
        "requirement_codes": "GCP-101", "description": "", "study": "__None",
        "site": "__None"})
    assert page.status_code == 302, page.get_data(as_text=True)
    record = db.session.scalar(select(Curriculum))
    assert record.number.startswith("CUR-") and record.state == "draft"
    token = csrf_token(client, f"{CURRICULA}details/?id={record.id}")
    page = client.post(f"{CURRICULA}{record.id}/transition/approve",
                       data={"csrf_token": token, "username": "quinn",
                             "password": "wrong-password-123"},
                       follow_redirects=True)
    assert "password" in page.get_data(as_text=True).lower()
    db.session.refresh(record)
    assert record.state == "draft"
    page = client.post(f"{CURRICULA}{record.id}/transition/approve",
                       data={"csrf_token": token, "username": "quinn",
                             "password": DEFAULT_PASSWORD},
                       follow_redirects=True)
    db.session.refresh(record)
    assert record.state == "active", page.get_data(as_text=True)
    [assignment] = assignments_of(trainee)
    assert assignment.requirement.code == "GCP-101"


def test_assignment_forms_hide_what_the_server_owns(client, login, team):
    qa, trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    [assignment] = assignments_of(trainee)
    login(client, "quinn")
    form = client.get(f"{ASSIGNMENTS}edit/?id={assignment.id}").get_data(as_text=True)
    names = set(re.findall(r'name="(\w+)"', form))
    assert {"due_date", "reason"} <= names
    assert not names & {"completed_at", "expires_on", "score", "evidence", "trigger",
                        "document_version_id", "version_label", "carried_over_from_id",
                        "state", "number"}
    switch(client, login, "tina")  # the trainee sees their own assignment, and only theirs
    assert client.get(ASSIGNMENTS).status_code == 200
    page = client.get(f"{ASSIGNMENTS}details/?id={assignment.id}").get_data(as_text=True)
    assert "Sign read and understood" in page


def test_a_trainee_does_not_see_others_assignments(client, login, team, make_user):
    qa, _trainee = team
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    other = make_user("olga", "trainee")
    [theirs] = assignments_of(other)
    login(client, "tina")
    assert client.get(f"{ASSIGNMENTS}details/?id={theirs.id}").status_code == 404
    assert theirs.number not in client.get(ASSIGNMENTS).get_data(as_text=True)

"""E6-21: with validation required, an enabled plugin whose installed code no approved
validation summary covers (an upgrade) is awaiting validation: its data can be read but not
written, on every path, and the Plugins page and a banner say so, until QA approves the summary
of a test run of that code. A version bump is simulated by a summary recording another checksum
for the plugin (the code that summary's run tested)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from core import ConflictError, SignatureRequest, attest, create_record, transition
from core.audit.context import acting_as, audit_reason
from core.db import db
from core.records.models import Record
from core.settings import set_setting
from core.testing import DEFAULT_PASSWORD, csrf_token, login
from core.testing_api import ApiCaller, problem
from core.validation.awaiting import AwaitingValidation, awaiting_validation
from core.validation.inventory import component, inventory
from core.validation.models import ValidationSummary
from core.validation.results import FORMAT
from core.validation.scope import load_scopes

pytestmark = [pytest.mark.plugins("capa"), pytest.mark.req("E6-21", "ISO-22")]
BOTH = pytest.mark.backends("sqlite", "postgresql")
OLD_CAPA = "0" * 64  # the checksum of the capa code an earlier summary validated


def _approved_summary(run_cqms, tmp_path, quinn, capa_sha256: str | None = None):
    """Record and approve the summary of a passing test run; ``capa_sha256``: the checksum it
    records for capa instead of the installed one (it validated another version)."""
    tests = [{"test": f"tests/x.py::test_{rid}[{backend}]", "outcome": "passed",
              "requirements": [rid], "backend": backend, "browser": False, "duration": 0.1,
              "detail": ""}
             for scope in load_scopes() for rid, backends in scope.claimed.items()
             for backend in (("none",) if backends == ("any",) else backends)]
    items = inventory()
    for item in items:
        if item["key"] == "capa" and capa_sha256:
            item["sha256"] = capa_sha256
    path = tmp_path / f"results-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps({
        "format": FORMAT, "finished_at": "2026-12-05T02:00:00+00:00",
        "environment": {"commit": "abc123def4567890", "python": "3.11", "platform": "Linux",
                        "implementation": "CPython", "postgresql": "PostgreSQL 15",
                        "pytest": "8"}, "inventory": items, "tests": tests}))
    status, _out, err = run_cqms("validation", "record", "--results", str(path),
                                 "--owner", "quinn")
    assert status == 0, err
    summary = db.session.scalars(select(ValidationSummary)
                                 .order_by(ValidationSummary.id.desc())).first()
    transition(summary, "approve", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    return summary


def _new_event(user, title="Consent on an old ICF version"):
    event = create_record("capa_event", user, title=title, category="deviation",
                          description="What happened.")
    db.session.commit()
    return event


def _records() -> int:
    return db.session.scalar(select(func.count()).select_from(Record)
                             .where(Record.type == "capa_event"))


@pytest.fixture
def people(make_user):
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    attest(quinn, DEFAULT_PASSWORD)
    ann = make_user("ann", "author", full_name="Ann Author")
    sam = make_user("sam", "system_admin", full_name="Sam Admin")
    db.session.commit()
    return quinn, ann, sam


def _require_validation(sam) -> None:
    with acting_as(sam), audit_reason("Production: validated code only"):
        set_setting("core.validation_required", True)
    db.session.commit()


@BOTH
def test_an_upgraded_plugin_is_read_only_until_its_new_code_is_validated(
        app, client, run_cqms, tmp_path, people):
    quinn, ann, sam = people
    before = _new_event(ann, "Before validation was required")
    _require_validation(sam)
    _approved_summary(run_cqms, tmp_path, quinn, capa_sha256=OLD_CAPA)
    version = component("capa")["version"]
    assert awaiting_validation() == {"capa": version}
    listed = run_cqms("plugins", "list")[1]
    assert f"awaiting validation of version {version}: read-only" in listed

    with pytest.raises(AwaitingValidation, match=f"Quality events and CAPA {version} is awaiting validation"):
        _new_event(ann)
    db.session.rollback()
    with pytest.raises(AwaitingValidation):
        transition(before, "investigate", ann)
        db.session.commit()
    db.session.rollback()
    assert _records() == 1 and db.session.get(Record, before.id).state == before.state

    api = ApiCaller(client, "ann")
    body = problem(api.post("/records/capa_event", json={
        "title": "Through the API", "category": "deviation", "description": "x"}), 503)
    assert "awaiting validation" in body["detail"]
    listed = api.get("/records/capa_event")
    assert listed.status_code == 200 and [i["number"] for i in listed.get_json()["items"]] == [
        before.number]  # reading stays possible
    assert _records() == 1

    login(client, "ann")
    page = client.post("/admin/capa_event/new/", data={
        "csrf_token": csrf_token(client, "/admin/capa_event/new/"), "title": "Through a form",
        "category": "deviation", "description": "x", "reason": "new"})
    # the form is shown again with the plain message
    assert page.status_code == 200 and "awaiting validation" in page.get_data(as_text=True)
    assert _records() == 1
    client = app.test_client()
    login(client, "sam")
    plugins = client.get("/admin/core_plugins/").get_data(as_text=True)
    assert f"Awaiting validation of version {version}" in plugins
    assert "is awaiting validation" in client.get("/admin/").get_data(as_text=True)

    _approved_summary(run_cqms, tmp_path, quinn)  # a test run of the installed code
    assert awaiting_validation() == {}
    _new_event(ann, "After validation")
    assert _records() == 2
    assert "awaiting validation" not in client.get("/admin/").get_data(as_text=True).lower()


@BOTH
def test_without_validation_required_nothing_waits_and_core_work_goes_on_while_a_plugin_does(
        app, run_cqms, tmp_path, people):
    quinn, ann, sam = people
    _approved_summary(run_cqms, tmp_path, quinn, capa_sha256=OLD_CAPA)
    assert awaiting_validation() == {}  # validation not required: no gate
    _new_event(ann)
    _require_validation(sam)
    assert awaiting_validation() == {"capa": component("capa")["version"]}
    # The core's own records and the plugin switch still change: the plugin can be disabled.
    with acting_as(sam), audit_reason("Renamed"):
        set_setting("core.site_name", "Trial QMS")
    host = app.extensions["cqms"].host
    with acting_as(sam):
        assert host.set_enabled("capa", False, reason="Wait for the validated version")
    db.session.commit()
    assert awaiting_validation() == {}  # a disabled plugin runs nothing
    with acting_as(sam), pytest.raises(ConflictError, match="no approved validation summary covers"):
        host.set_enabled("capa", True, reason="back")
    db.session.rollback()

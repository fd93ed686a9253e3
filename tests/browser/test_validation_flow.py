"""Real-browser flow of validation evidence: a test run's summary is recorded with the CLI and
QA opens it, reads the PDF's name and the counts, and approves it with an e-signature."""

from __future__ import annotations

import json

import pytest
from browser_helpers import enter_user_name, sign_in
from playwright.sync_api import expect

from core.cli import main
from core.db import db
from core.testing import DEFAULT_PASSWORD
from core.validation.inventory import inventory
from core.validation.models import ValidationSummary
from core.validation.results import FORMAT
from core.validation.scope import load_scopes

pytestmark = [pytest.mark.browser, pytest.mark.plugins("documents", "training")]


def _results(tmp_path):
    tests = [{"test": f"tests/x.py::test_{rid}[{b}]", "outcome": "passed", "requirements": [rid],
              "backend": b, "browser": False, "duration": 0.1, "detail": ""}
             for scope in load_scopes() for rid, backends in scope.claimed.items()
             for b in (("none",) if backends == ("any",) else backends)]
    path = tmp_path / "validation-results.json"
    path.write_text(json.dumps({
        "format": FORMAT, "finished_at": "2026-12-05T02:00:00+00:00",
        "environment": {"commit": "0123456789abcdef0123", "python": "3.11.2",
                        "implementation": "CPython", "platform": "Linux",
                        "postgresql": "PostgreSQL 15.14", "pytest": "8.3"},
        "inventory": inventory(), "tests": tests}))
    return path


@pytest.mark.req("A11-02", "ISO-22", "P11-15")
def test_qa_approves_a_validation_summary_in_the_browser(app, page, live_server, make_user,
                                                         tmp_path, capsys):
    make_user("quinn", "qa_manager", full_name="Quinn Quality")
    db.session.commit()
    try:
        main(["validation", "record", "--results", str(_results(tmp_path)), "--owner", "quinn"],
             app=app)
    except SystemExit as exc:  # a refusal fails the test with the command's message
        raise AssertionError(capsys.readouterr().err) from exc
    summary_id = db.session.query(ValidationSummary.id).scalar()
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock

    sign_in(page, live_server, "quinn")
    page.goto(f"{live_server}/admin/core_validation_summary/details/?id={summary_id}")
    expect(page.locator("#record-state")).to_have_text("Draft")
    expect(page.locator("body")).to_contain_text("VAL-0001")
    expect(page.locator("#attachments")).to_contain_text("validation-summary-0123456789ab.pdf")
    dialog = page.locator("#transition-approve")
    dialog.locator("input[name=attest]").check()  # the first signature: attestation
    enter_user_name(page, dialog)
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("textarea[name=comment]").fill("Evidence reviewed: no deviations")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("VAL-0001: Approve done.")
    expect(page.locator("#record-state")).to_have_text("Approved")
    row = page.locator("#signatures tbody tr", has_text="Quinn Quality (quinn)")
    expect(row).to_contain_text("Approved by")
    assert page.console_errors == []

"""Real-browser flow of an audit: the auditor plans a site audit, names the team, loads the
checklist, starts it and answers the questions on the checklist page, raising a major finding
from one answer; finishes and writes the report; QA approves the report (signed) and raises the
finding's CAPA; once that CAPA is closed, the auditor records the response, verifies and closes
the finding (signed) and closes the audit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from browser_helpers import enter_user_name, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from core import SignatureRequest, attest, linked, transition, update_record
from core.db import db
from core.testing import DEFAULT_PASSWORD
from plugins.audits.models import Audit, Finding
from plugins.capa import services as capa_services
from plugins.capa.queries import ADDRESSES, actions_of

pytestmark = [pytest.mark.browser, pytest.mark.plugins("capa", "audits")]
SAVE = "form.admin-form button[type=submit], form.admin-form input[type=submit]"


def sign_out(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))


def sign(page, name: str, *, attest_first: bool = False) -> None:  # type: ignore[no-untyped-def]
    dialog = page.locator(f"#transition-{name}")
    if attest_first:
        dialog.locator("input[name=attest]").check()
    enter_user_name(page, dialog)
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("button[type=submit]").click()


def edit(page, base: str, type_key: str, record_id: int, reason: str, **fields: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/{type_key}/edit/?id={record_id}")
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    if reason:
        page.fill("#reason", reason)
    page.locator(SAVE).first.click()
    expect(page.locator("#record-header")).to_be_visible()


def close_capa(capa, people) -> None:  # type: ignore[no-untyped-def]
    """The CAPA's own life cycle (its browser flow is tests/browser/test_capa_flow.py)."""
    rita, vic = people["rita"], people["vic"]  # quinn raised (and owns) the CAPA
    signed = SignatureRequest(password=DEFAULT_PASSWORD)

    def step(name, user, **kwargs):  # type: ignore[no-untyped-def]
        transition(capa, name, user, **kwargs)
        db.session.commit()

    def change(user, **values):  # type: ignore[no-untyped-def]
        update_record(capa, user, expected_version=capa.version, reason="test", **values)
        db.session.commit()

    capa_services.add_action(capa, rita, kind="corrective", description="Withdraw old ICFs",
                             owner=rita, due_date=capa.due_date)
    db.session.commit()
    change(rita, impact_assessment="No effect on subject safety.")
    step("verify_impact", rita, signature=signed)
    step("approve_plan", vic, signature=signed)
    for action in actions_of(capa):
        capa_services.complete_action(action, rita, evidence="Done")
    db.session.commit()
    change(rita, check_criteria="No old ICF at the next visit.",
           check_due_date=capa.due_date + timedelta(days=1))
    step("start_check", rita)
    change(vic, check_result="None found.")
    step("confirm_effective", vic, signature=signed)
    step("close", vic, signature=signed)


@pytest.mark.req("E6-08", "ISO-13", "ISO-14")
def test_an_audit_goes_from_plan_to_closure_in_the_browser(page, live_server, make_user,
                                                           system_actor):
    people = {"audrey": make_user("audrey", "auditor", full_name="Audrey Auditor"),
              "quinn": make_user("quinn", "qa_manager", full_name="Quinn Quality"),
              "rita": make_user("rita", "author", full_name="Rita Owner"),
              "vic": make_user("vic", "qa_manager", full_name="Vic Second QA")}
    for user in people.values():
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock
    base = live_server
    planned = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()

    sign_in(page, base, "audrey")
    page.goto(f"{base}/admin/audits_audit/new/")
    page.fill("#title", "Site 101 GCP audit")
    page.select_option("#audit_type", value="investigator_site", force=True)
    page.fill("#auditee", "Site 101 Berlin")
    page.fill("#scope_text", "Consent and delegation")
    page.fill("#criteria", "Protocol v4, ICH E6(R3)")
    page.fill("#planned_date", planned)
    page.click("label[for=title]")  # closes the date picker
    page.locator(SAVE).first.click()
    expect(page.locator("#record-state")).to_have_text("Planned")
    audit_id = db.session.scalar(select(Audit.id))
    db.session.commit()

    page.click("#audits-work")
    page.select_option("#member-user", label="Audrey Auditor (audrey)")
    page.select_option("#member-role", value="lead")
    page.locator("#add-member button[type=submit]").click()
    expect(page.locator("#team-list")).to_contain_text("Lead auditor")
    page.locator("#load-checklist button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("checklist loaded")
    page.goto(f"{base}/admin/audits_audit/details/?id={audit_id}")
    page.locator("#transition-start button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("In progress")

    page.goto(f"{base}/audits/audits/{audit_id}")
    first = page.locator("section[id^=answer-]").first
    first.locator("select[name=answer]").select_option("finding")
    first.locator("input[name=note]").fill("ICF v3 still in the consent folder.")
    first.locator("summary").click()
    first.locator("select[name=classification]").select_option("major")
    first.locator("input[name=finding_title]").fill("Superseded ICF version in use")
    first.locator("button[type=submit]").click()
    expect(page.locator("#finding-list")).to_contain_text("Superseded ICF version in use")
    questions = page.locator("section[id^=answer-]").count()
    for n in range(1, questions):  # the first is the finding
        form = page.locator("section[id^=answer-]").nth(n).locator("form")
        form.locator("select[name=answer]").select_option("conforms")
        form.locator("button[type=submit]").click()
        expect(page.locator(".alert").first).to_contain_text(f"answer {n + 1} saved")
    page.goto(f"{base}/admin/audits_audit/details/?id={audit_id}")
    page.locator("#transition-finish button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("Reporting")
    edit(page, base, "audits_audit", audit_id, "Report written",
         summary="Consent needs attention.", conclusions="One major finding.")
    sign_out(page, base)

    sign_in(page, base, "quinn")
    page.goto(f"{base}/admin/audits_audit/details/?id={audit_id}")
    sign(page, "approve_report")
    expect(page.locator("#record-state")).to_have_text("Report approved")
    finding_id = db.session.scalar(select(Finding.id))
    db.session.commit()
    page.goto(f"{base}/admin/audits_finding/details/?id={finding_id}")
    page.locator("#audits-raise-capa").click()
    expect(page.locator("body")).to_contain_text("raised in quality events and CAPA")
    sign_out(page, base)

    finding = db.session.get(Finding, finding_id)
    [capa] = linked(finding, ADDRESSES, direction="in")
    close_capa(capa, people)

    sign_in(page, base, "audrey")
    edit(page, base, "audits_finding", finding_id, "Response received",
         response="Old ICF copies withdrawn; subjects re-consented.")
    page.locator("#transition-respond button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("Responded")
    edit(page, base, "audits_finding", finding_id, "Verified",
         verification="Consent folder checked: only ICF v4.")
    sign(page, "verify_and_close")
    expect(page.locator("#record-state")).to_have_text("Closed")
    page.goto(f"{base}/admin/audits_audit/details/?id={audit_id}")
    page.locator("#transition-close button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("Closed")

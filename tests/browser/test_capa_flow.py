"""Real-browser flow of the closed loop: a reporter records a significant protocol deviation, its
containment and its investigation (a 5 whys line, the root cause, signed); raises a CAPA from
the event, plans an action and verifies the impact (signed); QA approves the plan (signed); the
owner completes the action; QA signs the effectiveness check, closes the CAPA and confirms the
event's adequacy (signed). Every step goes through the pages and sign dialogs people use."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from browser_helpers import enter_user_name, sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from core.testing import DEFAULT_PASSWORD
from plugins.capa.models import Capa, QualityEvent

pytestmark = [pytest.mark.browser, pytest.mark.plugins("capa")]
SAVE = "form.admin-form button[type=submit], form.admin-form input[type=submit]"


def sign_out(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))


def sign(page, name: str, *, attest: bool = False, reason: str = "") -> None:  # type: ignore[no-untyped-def]
    dialog = page.locator(f"#transition-{name}")
    if attest:  # the signer's first signature: the attestation
        dialog.locator("input[name=attest]").check()
    if reason:
        dialog.locator("textarea[name=reason]").fill(reason)
    enter_user_name(page, dialog)
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("button[type=submit]").click()


def step(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#transition-{name} button[type=submit]").click()


def edit(page, base: str, type_key: str, record_id: int, reason: str, **fields: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/{type_key}/edit/?id={record_id}")
    for name, value in fields.items():
        if page.locator(f"select#{name}").count():
            page.select_option(f"#{name}", value=value, force=True)  # select2 hides the select
        else:
            page.fill(f"#{name}", value)
    if reason:
        page.fill("#reason", reason)
    page.locator(SAVE).first.click()
    expect(page.locator("#record-header")).to_be_visible()


@pytest.mark.req("E6-09", "ISO-15", "ISO-16", "ISO-17", "ISO-19", "ISO-20")
def test_a_protocol_deviation_reaches_a_closed_capa_in_the_browser(page, live_server, make_user,
                                                                   system_actor):
    make_user("rita", "author", full_name="Rita Reporter")
    make_user("quinn", "qa_manager", full_name="Quinn Quality")
    db.session.commit()  # ends the transaction: on SQLite the server needs the write lock
    base = live_server
    today = datetime.now(UTC).date()

    sign_in(page, base, "rita")
    page.goto(f"{base}/admin/capa_event/new/")
    page.fill("#title", "Consent on a superseded ICF version")
    page.select_option("#category", value="protocol_deviation", force=True)
    page.select_option("#importance", value="important", force=True)
    page.fill("#occurred_on", (today - timedelta(days=2)).isoformat())
    page.fill("#description", "Subject 101-004 signed ICF v3 after v4 was approved.")
    page.check("#significant")
    page.locator(SAVE).first.click()
    expect(page.locator("#record-state")).to_have_text("Reported")
    event_id = db.session.scalar(select(QualityEvent.id))
    db.session.commit()

    edit(page, base, "capa_event", event_id, "Containment done",
         containment="Subject re-consented on v4 the same day.")
    step(page, "contain")
    expect(page.locator("#record-state")).to_have_text("Contained")
    step(page, "investigate")
    expect(page.locator("#record-state")).to_have_text("Investigating")
    page.click("#capa-analysis")
    page.select_option("#part", value="Why 1")
    page.fill("#finding", "The old ICF stock was not withdrawn.")
    page.locator("#add-analysis button[type=submit]").click()
    expect(page.locator("#analysis-lines")).to_contain_text("The old ICF stock was not withdrawn.")
    edit(page, base, "capa_event", event_id, "Investigation recorded",
         similar_review="none in 12 months", rca_method="five_whys",
         root_cause_key="procedure_unclear", root_cause="No withdrawal step in the procedure.",
         capa_needed="yes")
    sign(page, "complete_investigation", attest=True)
    expect(page.locator("#record-state")).to_have_text("Investigated")

    page.locator("#capa-raise").click()  # lands on the new CAPA's form
    page.fill("#impact_assessment", "No effect on subject safety or regulatory requirements.")
    page.locator(SAVE).first.click()
    expect(page.locator("#record-state")).to_have_text("Planning")
    capa_id = db.session.scalar(select(Capa.id))
    db.session.commit()
    page.click("#capa-actions")
    page.select_option("#kind", value="corrective")
    page.select_option("#owner_id", label="Rita Reporter (rita)")
    page.fill("#due_date", (today + timedelta(days=10)).isoformat())
    page.fill("#description", "Add a withdrawal step to the ICF procedure.")
    page.locator("#add-action button[type=submit]").click()
    expect(page.locator("#action-list")).to_contain_text("Add a withdrawal step")
    page.goto(f"{base}/admin/capa_capa/details/?id={capa_id}")
    sign(page, "verify_impact")
    expect(page.locator("#record-state")).to_have_text("Impact verified")
    sign_out(page, base)

    sign_in(page, base, "quinn")
    page.goto(f"{base}/admin/capa_capa/details/?id={capa_id}")
    sign(page, "approve_plan", attest=True)
    expect(page.locator("#record-state")).to_have_text("Implementation")
    sign_out(page, base)

    sign_in(page, base, "rita")
    page.goto(f"{base}/capa/capas/{capa_id}/actions")
    page.locator("#action-list textarea[name=evidence]").fill("Procedure v2 issued.")
    page.locator("#action-list button[type=submit]").click()
    expect(page.locator("#action-list")).to_contain_text("Procedure v2 issued.")
    edit(page, base, "capa_capa", capa_id, "Check planned",
         check_criteria="No superseded ICF used at the next 3 visits.",
         check_due_date=(today + timedelta(days=60)).isoformat())
    step(page, "start_check")
    expect(page.locator("#record-state")).to_have_text("Effectiveness check")
    sign_out(page, base)

    sign_in(page, base, "quinn")
    edit(page, base, "capa_capa", capa_id, "Check done",
         check_result="3 visits, no superseded ICF found.")
    sign(page, "confirm_effective")
    expect(page.locator("#record-state")).to_have_text("Effective")
    sign(page, "close")
    expect(page.locator("#record-state")).to_have_text("Closed")
    page.click("#capa-chain")
    expect(page.locator("#chain")).to_contain_text("3 visits, no superseded ICF found.")
    page.goto(f"{base}/admin/capa_event/details/?id={event_id}")
    for field in ("occurred_on", "severity"):  # a second person checks the critical data
        page.click(f"#verify-{field}")
        expect(page.locator("#verify-" + field)).to_have_count(0)
    sign(page, "close")
    expect(page.locator("#record-state")).to_have_text("Closed")

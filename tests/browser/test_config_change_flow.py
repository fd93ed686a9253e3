"""Real-browser flow of configuration change control (P11-13, A11-10): with approval required,
the administrator is sent from the settings page to propose a change, QA approves it with an
e-signature, the administrator activates it and the versions page shows it. Each page at
1,366 x 768: no sideways scrolling and no serious or critical axe-core violation."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_helpers import sign_in
from playwright.sync_api import expect
from sqlalchemy import select

from core.audit.context import acting_as, audit_reason
from core.config_changes.models import ConfigurationChange
from core.db import db
from core.settings import get_setting, set_setting
from core.testing import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.plugins("capa"),
              pytest.mark.req("P11-13", "A11-10")]
SCREENS = Path(os.environ.get("CQMS_SCREENS", "reports/screens"))


def sign_out(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))


def _check(page, name: str, problems: list[str]) -> None:
    page.screenshot(path=str(SCREENS / f"config-{name}.png"), full_page=True)
    if page.evaluate("document.documentElement.scrollWidth") > 1366:
        problems.append(f"{name}: wider than the window")
    problems += [f"{name}: {v['id']} ({v['impact']}) {v['help']}"
                 for v in Axe().run(page).response["violations"]
                 if v["impact"] in {"serious", "critical"}]


def test_a_setting_is_changed_through_a_proposal_approved_by_qa(app, page, live_server,
                                                                make_user):
    sam = make_user("sam", "system_admin", full_name="Sam Admin")
    make_user("quinn", "qa_manager", full_name="Quinn Quality")
    with acting_as(sam), audit_reason("Change control starts"):
        set_setting("core.config_approval_required", True)
    db.session.commit()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    problems: list[str] = []

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server}/admin/core_settings/")
    expect(page.locator("#approval-required")).to_contain_text("need approval")
    _check(page, "settings", problems)
    page.click("#approval-required #propose-change")
    page.fill("#title", "Audit-trail reviews every 45 days")
    page.select_option("#kind", value="setting", force=True)
    page.fill("#target", "core.audit_review_days")
    page.fill("#proposed_value", "45")
    page.fill("#justification", "Monthly reviews find too little to act on")
    _check(page, "propose", problems)
    page.locator("form.admin-form [type=submit]").first.click()
    expect(page).not_to_have_url(re.compile(r"/new/"))
    change_id = db.session.scalars(select(ConfigurationChange.id)).one()
    db.session.commit()
    record = f"{live_server}/admin/core_config_change/details/?id={change_id}"

    sign_out(page, live_server)
    sign_in(page, live_server, "quinn")
    page.goto(record)
    expect(page.locator("#record-state")).to_have_text("Proposed")
    _check(page, "approve", problems)
    dialog = page.locator("#transition-approve")
    dialog.locator("input[name=attest]").check()
    if dialog.locator("input[name=username]").count():  # the signer's user name, when asked
        dialog.locator("input[name=username]").fill("quinn")
    dialog.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    dialog.locator("button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("Approved")

    sign_out(page, live_server)
    sign_in(page, live_server, "sam")
    page.goto(record)
    page.locator("#transition-activate button[type=submit]").click()
    expect(page.locator("#record-state")).to_have_text("Activated")
    db.session.expire_all()
    assert get_setting("core.audit_review_days") == 45
    page.goto(f"{live_server}/admin/core_config_versions/")
    expect(page.locator("#config-version-2")).to_contain_text("30 -> 45")
    expect(page.locator("#config-active")).to_contain_text("Configuration version 2")
    _check(page, "versions", problems)
    assert problems == [], "\n".join(problems)
    assert page.console_errors == []

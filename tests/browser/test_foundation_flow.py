"""Real-browser flow: sign in, dashboard, disable and re-enable a plugin, refused a page."""

import re

import pytest
from playwright.sync_api import expect

from core.testing import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.plugins("capa", "audits")]


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#login-form button[type=submit]")


@pytest.mark.req("P11-04", "SEC-01")
def test_admin_toggles_a_plugin_and_a_trainee_is_refused(page, live_server, make_user):
    make_user("ada", "system_admin", full_name="Ada Admin")
    make_user("tom", "trainee", full_name="Tom Trainee")

    sign_in(page, live_server, "ada")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("body")).to_contain_text("Your account")
    expect(page.locator("nav")).to_contain_text("Ada Admin")

    # Flask-Admin's filter menu works under our CSP, without a console error (its inline
    # handlers are served as data attributes: see tests/browser/test_admin_csp.py).
    page.goto(f"{live_server}/admin/core_users/")
    page.click("text=Add Filter")
    page.click("a.filter:has-text('Active')")
    expect(page.locator("table.filters tr")).to_have_count(1)
    assert page.console_errors == []
    page.console_errors.clear()

    page.goto(f"{live_server}/admin/core_plugins/")
    row = page.locator("#plugin-audits")
    expect(row).to_contain_text("enabled")
    page.fill("#disable-audits-reason", "Audit programme moves to the vendor system")
    page.click("#disable-audits button[type=submit]")
    expect(page.locator("body")).to_contain_text("Plugin audits disabled.")
    expect(page.locator("#plugin-audits")).to_contain_text("disabled")
    # The plugin's pages leave the menu and answer 404 at once.
    expect(page.locator("nav a[href='/admin/audits_settings/']")).to_have_count(0)
    response = page.goto(f"{live_server}/admin/audits_settings/")
    assert response.status == 404
    assert page.console_errors == ["Failed to load resource: the server responded with a "
                                   "status of 404 (NOT FOUND)"]
    page.console_errors.clear()

    page.goto(f"{live_server}/admin/core_plugins/")
    page.fill("#enable-audits-reason", "Back in scope")
    page.click("#enable-audits button[type=submit]")
    expect(page.locator("body")).to_contain_text("Plugin audits enabled.")
    expect(page.locator("nav a[href='/admin/audits_settings/']")).to_have_count(1)
    response = page.goto(f"{live_server}/admin/audits_settings/")
    assert response.status == 200

    page.goto(f"{live_server}/admin/")
    page.click("#account-menu")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))

    sign_in(page, live_server, "tom")
    expect(page.locator("body")).to_contain_text("Your account")
    expect(page.locator("nav")).not_to_contain_text("Users")
    # No CSP violation or script error on any page so far (the refused page logs its own 403).
    assert page.console_errors == []
    response = page.goto(f"{live_server}/admin/core_users/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("Error 403")

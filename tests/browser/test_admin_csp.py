"""Flask-Admin's pages under our CSP in a real browser: its inline ``onclick`` handlers and
``javascript:`` links are served as data attributes that an external script runs, so loading
and using a list page (filters, tabs, pager) and an edit form reports no CSP violation, and
everything still works."""

from __future__ import annotations

import re

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

from core.db import db
from core.studies import Study

pytestmark = pytest.mark.browser

# Every violation the page reports, whatever the console shows.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(
    e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));
"""


def assert_clean(page) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("window.cspViolations") == []
    assert [e for e in page.console_errors if "Content Security Policy" in e
            or "Refused" in e or "inline event handler" in e or "JavaScript URL" in e] == []


@pytest.mark.req("SEC-10")
def test_admin_list_and_edit_pages_raise_no_csp_violation(page, live_server, make_user,
                                                          system_actor):
    make_user("ada", "system_admin", full_name="Ada Admin")
    for number in range(1, 52):  # two pages of 50
        db.session.add(Study(code=f"S-{number:03d}", title=f"Study {number}"))
    db.session.commit()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server, "ada")

    page.goto(f"{live_server}/admin/core_users/")
    page.click("text=Add Filter")
    page.click("a.filter:has-text('Active')")
    expect(page.locator("table.filters tr")).to_have_count(1)
    page.click("ul.nav-tabs a.nav-link.active")  # the current tab: a javascript: link before
    page.goto(f"{live_server}/admin/core_studies/")
    page.click("ul.pagination li.active a")  # the current page: a javascript: link too
    page.click("ul.pagination a:has-text('2')")
    expect(page).to_have_url(re.compile(r"page=1"))
    assert_clean(page)

    page.goto(f"{live_server}/admin/core_studies/")
    page.click("a[title='Edit Record'] >> nth=0")
    expect(page.locator("form.admin-form")).to_contain_text("Reason")
    page.click("ul.nav-tabs a.nav-link.active")
    page.fill("#title", "Study renamed")
    page.fill("#reason", "Typo in the title")
    page.click("input[type=submit][value='Save']")
    expect(page.locator("body")).to_contain_text("Study renamed")
    assert_clean(page)

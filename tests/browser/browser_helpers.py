"""Steps the browser flows share."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.testing import DEFAULT_PASSWORD


def sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the login form and land on the dashboard."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))


def enter_user_name(page, form) -> None:  # type: ignore[no-untyped-def]
    """The first signature of a sign-in session names the signer (P11-22): fill in the user
    name (as shown in the account menu) when the form asks for it; later ones do not ask."""
    field = form.locator("input[name=username]")
    if field.count():
        field.fill(page.locator("#account-menu + .dropdown-menu .dropdown-item-text").first
                   .text_content().strip())

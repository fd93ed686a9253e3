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

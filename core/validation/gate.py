"""E6-21: with ``core.validation_required`` on, a plugin is enabled only when an approved
validation summary covers the exact code installed (its version and the SHA-256 of its files)."""

from __future__ import annotations

from sqlalchemy import select

from core.db import db
from core.errors import ConflictError
from core.settings import get_setting
from core.validation.inventory import component
from core.validation.models import ValidationSummary

REQUIRED_SETTING = "core.validation_required"


def require_approved_summary(key: str) -> None:
    """Refuse (409) enabling ``key`` unless validation is off or an approved summary covers
    the installed code of ``key``."""
    if not get_setting(REQUIRED_SETTING):
        return
    item = component(key)
    if item is None or item["sha256"] is None:
        raise ConflictError(f"Cannot enable {key!r}: its installed files were not found, so "
                            "no validation summary can cover it.")
    approved = db.session.scalars(select(ValidationSummary).where(
        ValidationSummary.state == "approved"))
    if not any(s.covers(item) for s in approved):
        raise ConflictError(
            f"Cannot enable {key!r}: validation is required in this deployment and no approved "
            f"validation summary covers {key} {item['version']} (files SHA-256 "
            f"{item['sha256'][:12]}...). Record the summary of a test run of this code "
            "(cqms validation record) and have QA approve it first.")

"""Effects of the audit and finding transitions (inside the transition's transaction)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import get_setting, utcnow
from plugins.audits.models import Audit, Finding


def started(audit: Audit, _user: Any) -> None:
    audit.started_on = audit.started_on or utcnow().date()


def ended(audit: Audit, _user: Any) -> None:
    audit.ended_on = utcnow().date()


def verified(finding: Finding, _user: Any) -> None:
    finding.verified_at = utcnow()


def responded(finding: Finding, _user: Any) -> None:
    finding.responded_at = utcnow()
    finding.verification_due = finding.responded_at.date() + timedelta(
        days=get_setting("audits.verification_days"))

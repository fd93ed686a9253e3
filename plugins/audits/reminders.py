"""Idempotent sweeps: audits past their planned date and still not started (the lead auditor),
finding responses overdue and verifications due (the finding's owner), once per due date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from core import Record, db, notify
from plugins.audits import queries
from plugins.audits.models import Audit, Finding


def audits_sweep(now: datetime) -> int:
    count = 0
    for audit in db.session.scalars(select(Audit).where(
            Record.state == "planned", Audit.planned_date < now.date()).order_by(Audit.id)):
        leads = [m.user for m in queries.team_of(audit) if m.role == "lead"] or [audit.owner]
        for lead in leads:
            count += notify("audits.audit_due", lead, f"Audit not started: {audit.number}",
                            f"{audit.title} was planned for {audit.planned_date.isoformat()}.",
                            record=audit, due=audit.planned_date)
    return count


def responses_sweep(now: datetime) -> int:
    count = 0
    for finding in db.session.scalars(select(Finding).where(
            Record.state == "open", Finding.response_due < now.date()).order_by(Finding.id)):
        count += notify("audits.response_overdue", finding.owner,
                        f"Finding response overdue: {finding.number}",
                        f"The auditee's response to {finding.number} was due on "
                        f"{finding.response_due.isoformat()}.", record=finding,
                        due=finding.response_due)
    return count


def verifications_sweep(now: datetime) -> int:
    """Findings responded to and past their verification date (set at the response)."""
    count = 0
    for finding in db.session.scalars(select(Finding).where(
            Record.state == "responded", Finding.verification_due < now.date())
            .order_by(Finding.id)):
        count += notify("audits.verification_due", finding.owner,
                        f"Verification due: {finding.number}",
                        f"Verify the actions taken for {finding.number} and close it.",
                        record=finding, due=finding.verification_due)
    return count

"""The first entries of the lists administrators keep (``seed_reference_data``): added once
each, never changed or re-added afterwards (an administrator may relabel or retire them)."""

from __future__ import annotations

from sqlalchemy import select

from core import db
from plugins.capa.models import EventCategory, RootCause

# key, label, effectiveness check required
CATEGORIES = (
    ("deviation", "Deviation", True),
    ("protocol_deviation", "Protocol deviation", True),
    ("complaint", "Complaint", True),
    ("gcp_noncompliance", "GCP non-compliance", True),
    ("audit_finding", "Audit finding", True),
    ("system_incident", "System incident", True),
    ("system_issue", "System issue (helpdesk)", False),
    ("potential_issue", "Potential issue (preventive)", True),
    ("other", "Other", False),
)
ROOT_CAUSES = (
    ("procedure_unclear", "Procedure missing or unclear"),
    ("procedure_not_followed", "Procedure not followed"),
    ("training_gap", "Training gap"),
    ("resourcing", "Resourcing or workload"),
    ("communication", "Communication"),
    ("system_defect", "Computerised system defect"),
    ("vendor", "Vendor or third party"),
    ("design", "Protocol or process design"),
    ("human_error", "Human error (after other causes ruled out)"),
    ("other", "Other"),
)


def seed() -> str | None:
    known = set(db.session.scalars(select(EventCategory.key)))
    causes = set(db.session.scalars(select(RootCause.key)))
    new = [EventCategory(key=k, label=label, check_required=check)
           for k, label, check in CATEGORIES if k not in known]
    new += [RootCause(key=k, label=label) for k, label in ROOT_CAUSES if k not in causes]
    if not new:
        return None
    db.session.add_all(new)
    db.session.flush()
    return f"capa: {len(new)} list entries added (event categories, root causes)"

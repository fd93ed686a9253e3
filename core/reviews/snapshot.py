"""What a review looks at: every account's roles and last sign-in; the audit trail's events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select

from core.audit.models import AuditEntry
from core.db import db
from core.records.audit_scope import pointing_tables, record_tables
from core.records.models import Record
from core.studies import Site
from core.users.devices import reverify_overdue
from core.users.models import User, UserRole

# What a reviewer must look at one by one: a label and the entries it counts.
NOTABLE = (
    ("failed sign-ins", (AuditEntry.action == "login.failed",)),
    ("account lockouts", (AuditEntry.action == "account.locked",)),
    ("failed signature attempts", (AuditEntry.action == "signature.failed",)),
    ("signatures invalidated by a change", (or_(
        AuditEntry.action == "signature.invalidated",
        and_(AuditEntry.entity_type == "core_signature", AuditEntry.field == "invalidated_at")),)),
    ("plugin enablement changes", (AuditEntry.entity_type == "core_plugin_state",)),
    ("setting changes", (AuditEntry.entity_type == "core_setting",)),
    ("role permission changes", (AuditEntry.entity_type == "core_role_permission",)),
)


def access_snapshot(now: datetime, inactive_days: int) -> tuple[str, int]:
    """``username (printed name): role @ scope; last sign-in`` per active account; accounts
    without a sign-in for ``inactive_days`` are flagged INACTIVE, authenticators not
    re-verified within ``core.mfa_reverify_days`` AUTHENTICATOR-OVERDUE."""
    lines, flagged = [], 0
    users = db.session.scalars(select(User).where(User.active.is_(True),
                                                  User.is_service.is_(False))
                               .order_by(User.username))
    for user in users:
        grants = db.session.scalars(select(UserRole).where(
            UserRole.user_id == user.id, UserRole.revoked_at.is_(None))).all()
        roles = "; ".join(f"{g.role.label} @ {g.scope_label}" for g in grants) or "no roles"
        seen = user.last_login_at or user.created_at
        inactive = seen is None or now - seen > timedelta(days=inactive_days)
        flagged += inactive
        last = user.last_login_at.strftime("%Y-%m-%d") if user.last_login_at else "never"
        device_overdue = reverify_overdue(user, now)  # P11-28: authenticator not re-verified
        flagged += device_overdue and not inactive
        lines.append(f"{'INACTIVE ' if inactive else ''}"
                     f"{'AUTHENTICATOR-OVERDUE ' if device_overdue else ''}"
                     f"{user.username} ({user.full_name}): {roles}; last sign-in {last}")
    return "\n".join(lines), flagged


def study_entries(study_id: int) -> Any:
    """A condition on ``AuditEntry``: entries about the study's records (their fields and
    events, and rows pointing at them: links, signatures, files, tasks, items), the study and
    its sites, and role grants scoped to it."""
    records = record_tables()
    ids = select(Record.id).where(Record.study_id == study_id)
    texts = select(cast(Record.id, String)).where(Record.study_id == study_id)
    about = [and_(AuditEntry.entity_type.in_(records), AuditEntry.entity_id.in_(texts)),
             and_(AuditEntry.entity_type == "core_study", AuditEntry.entity_id == str(study_id)),
             and_(AuditEntry.entity_type == "core_site", AuditEntry.entity_id.in_(
                 select(cast(Site.id, String)).where(Site.study_id == study_id))),
             and_(AuditEntry.entity_type == "core_user_role", AuditEntry.entity_id.in_(
                 select(cast(UserRole.id, String)).outerjoin(Site, Site.id == UserRole.site_id)
                 .where(or_(UserRole.study_id == study_id, Site.study_id == study_id))))]
    for table, key, columns in pointing_tables(records):
        about.append(and_(AuditEntry.entity_type == table.name, AuditEntry.entity_id.in_(
            select(cast(key, String)).where(or_(*[c.in_(ids) for c in columns])))))
    return or_(*about)


def audit_snapshot(start: datetime | None, end: datetime,
                   study_id: int | None = None) -> tuple[str, int]:
    """The period's entry count, then each notable kind of event counted (flagged); with
    ``study_id``, only the entries about that study (``study_entries``)."""
    period = [AuditEntry.at <= end] + ([AuditEntry.at > start] if start else [])
    if study_id is not None:
        period.append(study_entries(study_id))

    def count(*where: object) -> int:
        return db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(*period, *where)) or 0

    lines = [f"{count()} audit entries in the period"]
    flagged = 0
    for label, where in NOTABLE:
        found = count(*where)
        flagged += found
        lines.append(f"{'CHECK ' if found else ''}{found} {label}")
    return "\n".join(lines), flagged

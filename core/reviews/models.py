"""The periodic review record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime
from core.records.models import Record

KINDS = {"access": "User-access review", "audit_trail": "Audit-trail review"}
SNAPSHOT_FIELDS = ("kind", "period_start", "period_end", "snapshot", "flagged")


class PeriodicReview(Record):
    __tablename__ = "core_periodic_review"
    __mapper_args__ = {"polymorphic_identity": "core_periodic_review"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    # Set by the sweep right after creation (server fields), in the same transaction.
    kind: Mapped[str] = mapped_column(String(20), index=True, default="")
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What to review, one line per item (a user's role, an event count), fixed at creation.
    snapshot: Mapped[str] = mapped_column(Text, default="")
    # Lines needing attention: inactive accounts, lockouts, invalidated signatures...
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    # What the reviewer found and did (required to complete).
    outcome: Mapped[str] = mapped_column(Text, default="")

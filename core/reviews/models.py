"""The periodic review record, the user-access lines a reviewer decides one by one, and the
per-study audit-trail review plans an administrator sets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.records.items import RecordItem
from core.records.models import Record
from core.specs import ItemRules

KINDS = {"access": "User-access review", "audit_trail": "Audit-trail review",
         "system": "System review"}
SNAPSHOT_FIELDS = ("kind", "period_start", "period_end", "snapshot", "flagged")
DECISIONS = {"confirmed": "Confirmed", "revoked": "Revoked"}


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
    # User-access reviews: each line's decision, one per line, kept by the server as lines are
    # decided so that the completing signature covers them.
    decisions: Mapped[str] = mapped_column(Text, default="")
    # What the reviewer found and did (required to complete).
    outcome: Mapped[str] = mapped_column(Text, default="")

    @property
    def kind_words(self) -> str:
        return KINDS.get(self.kind, self.kind)


class AccessReviewLine(RecordItem):
    """One user x role (x scope) of a user-access review, as it stood when the review opened,
    and the reviewer's decision: confirmed, or revoked (the grant is revoked with it)."""

    __tablename__ = "core_access_review_line"
    __item_label__ = "access line"
    __item_columns__ = (("person", "Person"), ("role_label", "Role"), ("scope", "Scope"),
                        ("last_sign_in_words", "Last sign-in"), ("inactive_words", "Inactive"),
                        ("decision_words", "Decision"), ("note", "Reviewer's note"))
    __rules__ = ItemRules("access line", deletable=False,
                          changeable=("decision", "note", "decided_by_id", "decided_at"))

    assignment_id: Mapped[int] = mapped_column(ForeignKey("core_user_role.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    person: Mapped[str] = mapped_column(String(300))
    role_label: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    last_sign_in: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str] = mapped_column(String(10), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def last_sign_in_words(self) -> str:
        return self.last_sign_in.strftime("%Y-%m-%d") if self.last_sign_in else "never"

    @property
    def inactive_words(self) -> str:
        return "inactive: check" if self.inactive else "no"

    @property
    def decision_words(self) -> str:
        return DECISIONS.get(self.decision, "not yet decided")


class StudyReviewPlan(Base):
    """An audit-trail review of one study's records every ``audit_review_days`` (besides the
    global one); retired (inactive), never deleted."""

    __tablename__ = "core_study_review_plan"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("core_study.id"), unique=True)
    audit_review_days: Mapped[int] = mapped_column(Integer, default=90)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    study = relationship("Study", lazy="joined")

    def audit_label(self) -> str:
        return f"audit-trail review plan of {self.study.code}" if self.study else str(self.id)

    def __str__(self) -> str:
        return self.audit_label()

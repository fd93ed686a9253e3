"""An absence recorded with a delegate: while it runs, the delegate may sign the absent person's
open steps with their own signature "on behalf of" them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Select, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class Delegation(Base):
    """``core_delegation``: who is absent, who signs for them, from when to when (whole UTC
    days, both included) and why; ended early by setting ``ended_at``, never deleted."""

    __tablename__ = "core_delegation"
    __audit__ = True
    __table_args__ = (
        CheckConstraint("absent_id <> delegate_id", name="not_to_oneself"),
        CheckConstraint("starts_on <= ends_on", name="period_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    absent_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))

    absent = relationship("User", foreign_keys=[absent_id], lazy="joined")
    delegate = relationship("User", foreign_keys=[delegate_id], lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id], lazy="joined")

    def runs_on(self, day: date) -> bool:
        return self.ended_at is None and self.starts_on <= day <= self.ends_on

    @property
    def period(self) -> str:
        return f"{self.starts_on:%Y-%m-%d} to {self.ends_on:%Y-%m-%d}"

    def audit_label(self) -> str:
        return f"{self.delegate.username} for {self.absent.username}, {self.period}"


def absences_delegated_to(delegate: Any, day: date | None = None) -> Select[tuple[int]]:
    """``select`` of the ids of the people whose absence ``delegate`` covers today (or on
    ``day``): their open tasks are the delegate's to take too."""
    day = day or utcnow().date()
    return select(Delegation.absent_id).where(
        Delegation.delegate_id == delegate.id, Delegation.ended_at.is_(None),
        Delegation.starts_on <= day, Delegation.ends_on >= day)

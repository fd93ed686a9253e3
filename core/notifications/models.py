"""``core_notification``: the in-app message and its e-mail outbox row, one per
(kind, record, due date, recipient)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

# E-mail states: "none" (in-app only: e-mail off or no address), "pending" (queued or waiting
# for a retry), "sent", "failed" (given up after NOTIFICATION_MAX_ATTEMPTS).
EMAIL_NONE, EMAIL_PENDING, EMAIL_SENT, EMAIL_FAILED = "none", "pending", "sent", "failed"


def dedupe_key(kind: str, record_id: int | None, due: date | None, recipient_id: int) -> str:
    """The unique key: NULL record or due date would make a composite unique constraint
    let duplicates through (NULLs are distinct), so the four parts are spelt into one column."""
    return f"{kind}|{record_id if record_id is not None else '-'}|" \
           f"{due.isoformat() if due is not None else '-'}|{recipient_id}"


class Notification(Base):
    """Written by ``notify()`` with INSERT .. ON CONFLICT DO NOTHING (so not an audited model:
    ``notification.queued``/``.sent``/``.failed`` events record its life instead)."""

    __tablename__ = "core_notification"
    __table_args__ = (
        Index("ix_core_notification_unread", "recipient_id", "read_at"),
        Index("ix_core_notification_outbox", "email_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(100))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"), index=True)
    due: Mapped[date | None] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_state: Mapped[str] = mapped_column(String(16), default=EMAIL_NONE)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A deliverer's claim: its token and until when (a crashed deliverer's claim expires).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")

    recipient = relationship("User", lazy="joined")
    record = relationship("Record", lazy="joined")

    def audit_label(self) -> str:
        return f"{self.kind} #{self.id}"

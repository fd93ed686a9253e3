"""``core_reaction``: one plugin's pending, done or failed reaction to one committed change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

PENDING, DONE, FAILED = "pending", "done", "failed"


class Reaction(Base):
    """Written in the transaction of the change it reacts to, so a crash right after the commit
    still runs it. Operational bookkeeping (not audited): the reaction's own writes are."""

    __tablename__ = "core_reaction"
    __table_args__ = (Index("ix_core_reaction_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hook: Mapped[str] = mapped_column(String(64))
    plugin: Mapped[str] = mapped_column(String(64))
    # The change, by id: {"record_id": 5, "transition": "approve", "user_id": 3} ...
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""``core_job``: one piece of long work a user started, its progress and its result file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
ACTIVE = (QUEUED, RUNNING)


class Job(Base):
    """Operational bookkeeping, not a controlled record: what the job does is audited (an
    export's entry names its SHA-256), the row itself is removed ``JOB_KEEP_DAYS`` after it
    ends. Only the user who started it sees it or downloads its file."""

    __tablename__ = "core_job"
    __table_args__ = (Index("ix_core_job_owner", "requested_by_id", "id"),
                      Index("ix_core_job_state", "state", "heartbeat_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300))
    params: Mapped[str] = mapped_column(Text, default="{}")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    state: Mapped[str] = mapped_column(String(10), default=QUEUED)
    step: Mapped[str] = mapped_column(String(200), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_name: Mapped[str] = mapped_column(String(200), default="")
    result_type: Mapped[str] = mapped_column(String(100), default="")
    result_size: Mapped[int] = mapped_column(Integer, default=0)
    result_sha256: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    requested_by = relationship("User", lazy="joined")

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

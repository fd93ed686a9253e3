"""``core_task``: one piece of work on a record, for a user or for the holders of a role."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, and_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.errors import ValidationError

OPEN, DONE, CANCELLED = "open", "done", "cancelled"
STATES = (OPEN, DONE, CANCELLED)


def today() -> date:
    """The current UTC date: a task is overdue from the first UTC day after its due date."""
    return utcnow().date()


def as_due_date(due: date | datetime | None) -> date | None:
    """A due date from a date, or from an aware datetime (its UTC date)."""
    if due is None or (isinstance(due, date) and not isinstance(due, datetime)):
        return due
    if isinstance(due, datetime):
        if due.tzinfo is None:
            raise ValidationError({"due": "A due datetime must be timezone-aware (UTC)."})
        return due.astimezone(UTC).date()
    raise ValidationError({"due": "Give the due date as a date."})


class Task(Base):
    """Assigned to exactly one of ``assignee`` (a user) or ``role`` (its holders whose
    assignment covers ``study``/``site``). ``overdue`` is derived, never stored."""

    __tablename__ = "core_task"
    __audit__ = True
    # Derived from record, kind and assignee/role while open (the database keeps it unique).
    __audit_ignore__ = frozenset({"open_key"})
    __table_args__ = (
        CheckConstraint("(assignee_id IS NULL) <> (role_id IS NULL)", name="assignee_or_role"),
        CheckConstraint("state IN ('open', 'done', 'cancelled')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    # A transition name of the record's workflow (linked to its form) or a same-origin path.
    action: Mapped[str] = mapped_column(String(300), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("core_role.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("core_study.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("core_site.id"), index=True)
    due: Mapped[date | None] = mapped_column(Date, index=True)
    state: Mapped[str] = mapped_column(String(16), default=OPEN, index=True)
    # "<record>:<kind>:u<user>" or ":r<role>" while open, NULL once closed: at most one open
    # task per record, kind and assignee, even when two transactions race.
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))

    record = relationship("Record", lazy="joined")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    role = relationship("Role", lazy="joined")
    study = relationship("Study", lazy="joined")
    site = relationship("Site", lazy="joined")
    completed_by = relationship("User", foreign_keys=[completed_by_id], lazy="select")

    @hybrid_property
    def overdue(self) -> bool:
        return self.state == OPEN and self.due is not None and self.due < today()

    @overdue.inplace.expression
    @classmethod
    def _overdue_expression(cls):  # type: ignore[no-untyped-def]
        return and_(cls.state == OPEN, cls.due.is_not(None), cls.due < today())

    @property
    def scope_label(self) -> str:
        if self.site is not None:
            return f"site {self.site.audit_label()}"
        if self.study is not None:
            return f"study {self.study.code}"
        return "all studies"

    @property
    def assigned_to(self) -> str:
        if self.assignee is not None:
            return self.assignee.printed_name
        return f"{self.role.label if self.role else '?'} ({self.scope_label})"

    def audit_label(self) -> str:
        return f"{self.kind} #{self.id}"

    def __str__(self) -> str:
        return f"{self.title} ({self.kind})"

"""The clinical dimension: studies and their sites. Records and role assignments may be scoped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class Study(Base):
    __tablename__ = "core_study"
    __audit_label_column__ = "code"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sites: Mapped[list[Site]] = relationship(back_populates="study", order_by="Site.code")

    def audit_label(self) -> str:
        return self.code

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class Site(Base):
    __tablename__ = "core_site"
    __audit__ = True
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("core_study.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    study: Mapped[Study] = relationship(back_populates="sites", lazy="joined")

    def audit_label(self) -> str:
        return f"{self.study.code}/{self.code}" if self.study else self.code

    def __str__(self) -> str:
        return f"{self.study.code} site {self.code}: {self.name}" if self.study else self.code

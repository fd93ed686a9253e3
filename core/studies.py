"""The clinical dimension: studies and their sites. Records and role assignments may be scoped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, db, utcnow
from core.db.lookups import lookup_text, row_by_id, row_by_text


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

    @classmethod
    def by_code(cls, code: Any) -> Study | None:
        """The study with this code (stripped), or None.

        :param code: a study code such as ``"ST-1"``; anything else finds nothing.
        """
        return row_by_text(cls, cls.code, code)

    @classmethod
    def pick_list(cls) -> list[Study]:
        """Every study, active or not, by code: the choices of a filter or a form."""
        return list(db.session.scalars(select(cls).order_by(cls.code)))

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

    @classmethod
    def by_id(cls, site_id: Any) -> Site | None:
        """The site with this id (an int or a string of digits), or None."""
        return row_by_id(cls, site_id)

    @classmethod
    def by_code(cls, code: Any, study: Any = None) -> Site | None:
        """The site with this code (stripped) in ``study``, or None; without a study, the one
        site of that code, None when several studies have one.

        :param code: a site code such as ``"101"``.
        :param study: a ``Study`` or its id (optional).
        """
        code = lookup_text(code)
        if code is None:
            return None
        stmt = select(cls).where(cls.code == code)
        if study is not None:
            stmt = stmt.where(cls.study_id == getattr(study, "id", study))
        sites = list(db.session.scalars(stmt.limit(2)))
        return sites[0] if len(sites) == 1 else None

    @classmethod
    def pick_list(cls, study: Any = None) -> list[Site]:
        """Every site, active or not, by study then code (``study``: a ``Study`` or id, only
        its sites): the choices of a filter or a form."""
        stmt = select(cls).order_by(cls.study_id, cls.code)
        if study is not None:
            stmt = stmt.where(cls.study_id == getattr(study, "id", study))
        return list(db.session.scalars(stmt))

    def audit_label(self) -> str:
        return f"{self.study.code}/{self.code}" if self.study else self.code

    def __str__(self) -> str:
        return f"{self.study.code} site {self.code}: {self.name}" if self.study else self.code

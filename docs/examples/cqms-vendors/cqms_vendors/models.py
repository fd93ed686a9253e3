"""The Vendor record: the core's base columns (number, title, state, owner, study, site,
version...) plus the fields below."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import Record


class Vendor(Record):
    __tablename__ = "vendors_vendor"
    __mapper_args__ = {"polymorphic_identity": "vendors_vendor"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")  # the services it provides
    country: Mapped[str] = mapped_column(String(60), default="")
    due_date: Mapped[date | None] = mapped_column(Date)  # re-qualification due

"""Items owned by a record (checklist answers, action lines, KRI observations): audited rows
that belong to one record, under its number, frozen with it, listed on its page and exported
with it. A plugin subclasses ``RecordItem`` and names the model in ``RecordType.items``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core.db import Base, UTCDateTime, db, utcnow


class RecordItem(Base):
    """Base of a record's child rows: ``record_id``, who added it and when; audited.

    ``__item_label__`` names one row ("checklist answer"); ``__item_columns__`` lists the
    ``(column, heading)`` pairs the record page and the exports show, in order.
    """

    __abstract__ = True
    __audit__ = True
    __item_label__: ClassVar[str] = "item"
    __item_columns__: ClassVar[tuple[tuple[str, str], ...]] = ()

    id: Mapped[int] = mapped_column(primary_key=True)

    @declared_attr
    def record_id(cls) -> Mapped[int]:  # noqa: N805 - a declarative attribute
        return mapped_column(ForeignKey("core_record.id"), index=True)

    @declared_attr
    def created_by_id(cls) -> Mapped[int]:  # noqa: N805 - a declarative attribute
        return mapped_column(ForeignKey("core_user.id"))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def audit_label(self) -> str:
        return f"{self.__item_label__} {self.id}"

    def shown(self) -> list[tuple[str, Any]]:
        """(heading, value) of the declared columns."""
        return [(heading, getattr(self, name)) for name, heading in self.__item_columns__]


def item_models(record: Any) -> list[type[RecordItem]]:
    """The item models the record's type declares."""
    from flask import current_app

    rt = current_app.extensions["cqms"].registry.record_types.get(record.type)
    return list(rt.items) if rt is not None else []


def items_of(record: Any) -> list[tuple[type[RecordItem], list[RecordItem]]]:
    """Each declared item model with the record's rows of it, oldest first."""
    from sqlalchemy import select

    return [(model, list(db.session.scalars(select(model).where(model.record_id == record.id)
                                            .order_by(model.id))))
            for model in item_models(record)]

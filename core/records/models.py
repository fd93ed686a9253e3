"""``core_record`` (the controlled item), the gapless number counters and their claims, and typed
record links."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, db, utcnow
from core.db.lookups import lookup_id, row_by_id


class Record(Base):
    """Base of every controlled record type. Subclasses use joined-table inheritance:

    ``class Capa(Record): __tablename__ = "capa_capa"; id = mapped_column(ForeignKey(
    "core_record.id"), primary_key=True); __mapper_args__ = {"polymorphic_identity": "capa_capa"}``

    ``state`` changes only through ``core.transition``; ``version`` is an optimistic lock
    incremented by every update; ``content_hash`` covers the controlled fields.
    """

    __tablename__ = "core_record"
    __audit_label_column__ = "number"
    __audit__ = True
    # Changes not written as field rows: the transition event carries the state; verify
    # recomputes the content hash from the content; each entry's actor says who updated.
    __audit_updates_elsewhere__ = frozenset({"state", "content_hash", "updated_by_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(40), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("core_study.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("core_site.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    # SHA-256 chained over the record's attachments (id and SHA-256, in upload order). Part of
    # the content hash, so a signature covers the files and a file added later invalidates it.
    attachments_digest: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    study = relationship("Study", lazy="joined")
    site = relationship("Site", lazy="joined")

    __mapper_args__ = {"polymorphic_on": "type", "version_id_col": version}
    # Keyset pages of one type in the API's sort orders (the leading ``type`` also serves
    # plain lookups by type).
    __table_args__ = (
        Index("ix_core_record_type_number", "type", "number"),
        Index("ix_core_record_type_updated", "type", "updated_at", "id"),
        Index("ix_core_record_type_created", "type", "created_at", "id"),
        # Counts by type and state (dashboards, boards) read the index alone.
        Index("ix_core_record_type_state", "type", "state"),
    )

    def audit_label(self) -> str:
        return self.number

    @classmethod
    def by_id(cls, record_id: Any) -> Record | None:
        """The record with this id (of this class: on ``Record``, of any type), or None.
        Reading rights are the caller's to check (``may_read``).

        :param record_id: an int or a string of digits; anything else finds nothing.
        """
        found = row_by_id(cls, record_id)
        return found if isinstance(found, cls) else None

    @classmethod
    def by_number(cls, number: Any) -> Record | None:
        """The record numbered ``number`` (``SOP-0003-v2.0``; of this class: on ``Record``, of
        any type), or None. Reading rights are the caller's to check (``may_read``)."""
        if not isinstance(number, str) or not number.strip() or len(number) > 64:
            return None
        found = db.session.scalar(select(Record).where(Record.number == number.strip()))
        return found if isinstance(found, cls) else None

    @classmethod
    def by_ids(cls, record_ids: Iterable[Any]) -> dict[int, Record]:
        """``{id: record}`` for those of ``record_ids`` that exist (of this class), in one
        query."""
        ids = {i for i in map(lookup_id, record_ids) if i is not None}
        if not ids:
            return {}
        return {r.id: r for r in db.session.scalars(select(cls).where(cls.id.in_(ids)))}

    @property
    def audit_entity_type(self) -> str:
        """The entity type of this record's audit entries: its most specific table, as the
        audit listener writes field changes (events about the record use the same)."""
        return self.__mapper__.local_table.name

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Counter(Base):
    """The next number per record type and period; incremented inside the creating transaction."""

    __tablename__ = "core_counter"
    __table_args__ = (UniqueConstraint("record_type", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(8), default="")
    value: Mapped[int] = mapped_column(Integer, default=0)


class NumberClaim(Base):
    """A number drawn from its counter on PostgreSQL by a creation that has not committed yet.

    The creating transaction deletes its claim, so a committed record leaves none; a claim left
    behind (the creation rolled back, or its process died) is given to the next creation of
    the type (core.records.numbering)."""

    __tablename__ = "core_number_claim"

    record_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecordLink(Base):
    """A typed, directed relationship between two records (``addresses``, ``supersedes``) of a
    declared ``LinkKind``. Unlinking ends it (when, by whom, why); it is never deleted."""

    __tablename__ = "core_record_link"
    __audit__ = True
    # One live link per (source, target, kind); ended ones stay beside it.
    __table_args__ = (Index("uq_core_record_link_live", "source_id", "target_id", "kind",
                            unique=True, sqlite_where=text("ended_at IS NULL"),
                            postgresql_where=text("ended_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    end_reason: Mapped[str | None] = mapped_column(String(2000))

    source = relationship("Record", foreign_keys=[source_id], lazy="joined")
    target = relationship("Record", foreign_keys=[target_id], lazy="joined")

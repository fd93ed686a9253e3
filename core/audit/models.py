"""The append-only audit table and the database triggers that keep it so."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Sequence, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow
from core.db.append_only import make_append_only


class AuditEntry(Base):
    """One event, or one changed field of one entity. Never updated, never deleted."""

    __tablename__ = "core_audit_entry"
    __table_args__ = (
        # Record history pages and reconcilers look entries up by entity.
        Index("ix_core_audit_entry_entity", "entity_type", "entity_id"),
        # A chain's head, and verification walking each chain in order.
        Index("ix_core_audit_entry_chain", "chain", "id"),
    )

    # Assigned by the appender while it holds the entry's chain: from a sequence on PostgreSQL
    # (rising within each chain), the head's id + 1 on SQLite (one chain, gapless).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Sequence("core_audit_entry_id_seq"),
        primary_key=True, autoincrement=False,
    )
    #: The chain the entry is linked into (core.audit.chain); 0 for every entry on SQLite.
    chain: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    field: Mapped[str] = mapped_column(String(64), default="")
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    client: Mapped[str] = mapped_column(String(255), default="")
    entity_version: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


make_append_only(AuditEntry.__table__)


class AuditCheckpoint(Base):
    """A signed (HMAC) statement of a chain's head at a moment; also exported to files."""

    __tablename__ = "core_audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mac: Mapped[str] = mapped_column(String(64))

"""The append-only audit table and the database triggers that keep it so."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, BigInteger, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

SQLITE_TRIGGERS = (
    "CREATE TRIGGER core_audit_entry_no_update BEFORE UPDATE ON core_audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'core_audit_entry is append-only'); END",
    "CREATE TRIGGER core_audit_entry_no_delete BEFORE DELETE ON core_audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'core_audit_entry is append-only'); END",
)
POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION core_audit_entry_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'core_audit_entry is append-only'; END $$",
    "CREATE TRIGGER core_audit_entry_no_change BEFORE UPDATE OR DELETE ON core_audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION core_audit_entry_append_only()",
    "CREATE TRIGGER core_audit_entry_no_truncate BEFORE TRUNCATE ON core_audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION core_audit_entry_append_only()",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS core_audit_entry_no_update",
    "DROP TRIGGER IF EXISTS core_audit_entry_no_delete",
)
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS core_audit_entry_no_truncate ON core_audit_entry",
    "DROP TRIGGER IF EXISTS core_audit_entry_no_change ON core_audit_entry",
    "DROP FUNCTION IF EXISTS core_audit_entry_append_only()",
)


def append_only_ddl(dialect: str) -> tuple[str, ...]:
    return {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, ())


def drop_append_only_ddl(dialect: str) -> tuple[str, ...]:
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(dialect, ())


class AuditEntry(Base):
    """One event, or one changed field of one entity. Never updated, never deleted."""

    __tablename__ = "core_audit_entry"
    # Record history pages and reconcilers look entries up by entity.
    __table_args__ = (Index("ix_core_audit_entry_entity", "entity_type", "entity_id"),)

    # The chain sequence: assigned by the appender under the chain lock, gapless from 1.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
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


def _install_triggers(target, connection, **_kw) -> None:  # type: ignore[no-untyped-def]
    for statement in append_only_ddl(connection.dialect.name):
        connection.execute(DDL(statement))


event.listen(AuditEntry.__table__, "after_create", _install_triggers)


class AuditCheckpoint(Base):
    """A signed (HMAC) statement of the chain head at a moment; also exported to files."""

    __tablename__ = "core_audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mac: Mapped[str] = mapped_column(String(64))

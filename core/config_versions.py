"""Configuration versions (P11-13, A11-10): every change of a setting's value, a role's
permission set or a plugin's enabled state appends one numbered version with its actor, UTC
time, old and new value and reason, chained by SHA-256 so the active version's digest names
the whole history. The table is append-only; its rows are audited like any other change.

Workflow definitions are code: they change with the installed code, which validation
summaries cover (core.validation), not here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, mapped_column

from core.audit.context import current_reason
from core.audit.listener import current_actor
from core.db import Base, UTCDateTime, db, utc_text, utcnow
from core.db.append_only import make_append_only

KINDS = {"setting": "A setting's value", "role": "A role's permissions",
         "plugin": "A plugin enabled or disabled"}
_PG_LOCK = 0x43514D53  # "CQMS": one configuration writer at a time on PostgreSQL


class ConfigVersion(Base):
    """One configuration change; ``number`` rises by one per change, never reused."""

    __tablename__ = "core_config_version"
    __audit__ = True

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    actor_name: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(120))
    # JSON of the value before and after (a role's permissions as a sorted list).
    old_value: Mapped[str] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The approved configuration change record that activated it (None: a direct change).
    change_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"))
    # SHA-256 of the previous version's digest and this version's content.
    digest: Mapped[str] = mapped_column(String(64))

    def audit_label(self) -> str:
        return f"configuration version {self.number}"

    @property
    def diff(self) -> str:
        return describe_diff(self.kind, json.loads(self.old_value), json.loads(self.new_value))


make_append_only(ConfigVersion.__table__)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ActiveVersion:
    number: int
    digest: str

    @property
    def label(self) -> str:
        """``configuration version 12 (3f2a9c1b)``, or the installed baseline."""
        if not self.number:
            return "configuration version 0 (as installed)"
        return f"configuration version {self.number} ({self.digest[:8]})"


def describe_diff(kind: str, old: Any, new: Any) -> str:
    """The change in words: ``false -> true``; ``+core.audit.view, -core.users.view``."""
    if kind == "role":
        added = [f"+{name}" for name in sorted(set(new) - set(old))]
        removed = [f"-{name}" for name in sorted(set(old) - set(new))]
        return ", ".join(added + removed) or "no change"
    if kind == "plugin":
        return f"{'enabled' if old else 'disabled'} -> {'enabled' if new else 'disabled'}"
    return f"{json.dumps(old)} -> {json.dumps(new)}"


def _latest() -> ConfigVersion | None:
    with db.session.no_autoflush:
        return db.session.scalars(select(ConfigVersion).order_by(ConfigVersion.number.desc())
                                  .limit(1)).first()


def active_version() -> ActiveVersion:
    """The configuration version in force: the last one appended (0 before any change)."""
    latest = _latest()
    return ActiveVersion(latest.number, latest.digest) if latest else ActiveVersion(0, "")


def _digest(previous: str, row: dict[str, Any]) -> str:
    canonical = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"cqms.config.v1\0{previous}\0{canonical}".encode()).hexdigest()


def lock_configuration() -> None:
    """Hold the configuration until the transaction ends: one writer at a time (SQLite's
    writers queue already)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})


def record_config_version(kind: str, target: str, old: Any, new: Any,
                          change_id: int | None = None) -> ConfigVersion:
    """Append the next version for a change made in the current transaction, stamped with the
    audit context's actor and reason. Flushes; the caller commits."""
    lock_configuration()
    latest = _latest()
    actor_id, actor_name = current_actor()
    row = {"number": (latest.number if latest else 0) + 1, "at": utcnow(),
           "actor_id": actor_id, "actor_name": actor_name, "kind": kind,
           "target": target, "old_value": json.dumps(old, sort_keys=True),
           "new_value": json.dumps(new, sort_keys=True), "reason": current_reason(),
           "change_id": change_id}
    hashed = {**row, "at": utc_text(row["at"])}
    version = ConfigVersion(**row, digest=_digest(latest.digest if latest else "", hashed))
    db.session.add(version)
    db.session.flush()
    return version

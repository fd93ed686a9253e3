"""The hash chain: every audit entry commits to its content and to the entry before it.

``hash = SHA-256("cqms.audit.v1" NUL prev_hash NUL canonical JSON of the entry)``. Appends are
serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already
holds the write lock), so the chain never forks and sequence numbers are gapless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from core.audit.models import AuditEntry

DOMAIN = b"cqms.audit.v1"
GENESIS = "0" * 64
# Arbitrary constant naming the chain's advisory lock on PostgreSQL.
CHAIN_LOCK_KEY = 0x43514D53
CHAINED_FIELDS = (
    "id", "at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
    "entity_version", "field", "old_value", "new_value", "reason", "request_id", "ip", "client",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(entry: Mapping[str, Any]) -> bytes:
    values = [_canonical_value(entry.get(name)) for name in CHAINED_FIELDS]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(DOMAIN + b"\x00" + prev_hash.encode() + b"\x00" + canonical(entry))
    return digest.hexdigest()


def lock_chain(connection: Connection) -> None:
    """Hold the chain for the rest of this transaction (released at commit or rollback)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))


def chain_head(connection: Connection) -> tuple[int, str]:
    row = connection.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(connection: Connection, entries: Sequence[dict[str, Any]]) -> list[int]:
    """Number, link and insert ``entries`` in order; returns their sequence numbers."""
    if not entries:
        return []
    lock_chain(connection)
    seq, prev = chain_head(connection)
    rows = []
    for entry in entries:
        seq += 1
        row = {name: entry.get(name) for name in CHAINED_FIELDS if name != "id"}
        row.update(id=seq, prev_hash=prev)
        for name in ("entity_id", "field", "reason", "request_id", "ip", "client"):
            row[name] = row[name] if row[name] is not None else ""
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    connection.execute(insert(AuditEntry), rows)
    return [row["id"] for row in rows]

"""The hash chain: every audit entry commits to its content and to the entry before it.

``hash = HMAC-SHA256(integrity key, "audit-entry" NUL prev_hash NUL canonical JSON)``: keyed, so
someone with database write access but not the key cannot forge an entry, nor re-hash the chain
after editing one. Trails written before the chain was keyed start with entries hashed
``SHA-256("cqms.audit.v1" NUL prev_hash NUL canonical JSON)`` (``entry_hash``); verification
accepts those only before the first keyed entry. Appends are
serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already
holds the write lock), so the chain never forks and sequence numbers are gapless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from core.audit.models import AuditEntry
from core.integrity import integrity_key

DOMAIN = b"cqms.audit.v1"
KEYED_PURPOSE = b"audit-entry"
HEAD = "cqms_audit_head"
GENESIS = "0" * 64
# Arbitrary constant naming the chain's advisory lock on PostgreSQL.
CHAIN_LOCK_KEY = 0x43514D53
CHAINED_FIELDS = (
    "id", "at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
    "entity_version", "field", "old_value", "new_value", "reason", "request_id", "ip", "client",
)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    return value


def canonical(entry: Mapping[str, Any]) -> bytes:
    values = [_canonical_value(entry.get(name)) for name in CHAINED_FIELDS]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The unkeyed hash of the first trails (anyone can compute it: legacy entries only)."""
    digest = hashlib.sha256(DOMAIN + b"\x00" + prev_hash.encode() + b"\x00" + canonical(entry))
    return digest.hexdigest()


def entry_hash_of_text(prev_hash: str, canonical_text: str) -> str:
    """``entry_hash`` given the entry's canonical JSON as text (the verifier's fast path)."""
    message = f"{DOMAIN.decode()}\x00{prev_hash}\x00{canonical_text}".encode()
    return hashlib.sha256(message).hexdigest()


class EntryHasher:
    """The keyed hash of entries under one key (the HMAC's key schedule is done once)."""

    def __init__(self, key: bytes):
        self._base = hmac.new(key, KEYED_PURPOSE + b"\x00", hashlib.sha256)

    def __call__(self, prev_hash: str, entry: Mapping[str, Any]) -> str:
        mac = self._base.copy()
        mac.update(prev_hash.encode() + b"\x00" + canonical(entry))
        return mac.hexdigest()

    def of_text(self, prev_hash: str, canonical_text: str) -> str:
        """The hash given the entry's canonical JSON as text (the verifier's fast path)."""
        mac = self._base.copy()
        mac.update(f"{prev_hash}\x00{canonical_text}".encode())
        return mac.hexdigest()


def hash_kind(hasher: EntryHasher, entry: Mapping[str, Any]) -> str | None:
    """"keyed" if ``entry`` carries the application's keyed hash, "legacy" if the unkeyed hash
    of the first trails, None if neither (edited, or forged without the key)."""
    if hasher(entry["prev_hash"], entry) == entry["hash"]:
        return "keyed"
    if entry_hash(entry["prev_hash"], entry) == entry["hash"]:
        return "legacy"
    return None


def app_hasher() -> EntryHasher:
    """The keyed hasher of this deployment (its integrity key)."""
    return EntryHasher(integrity_key())


def keyed_entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The hash the application writes for ``entry`` after ``prev_hash`` (needs the app)."""
    return app_hasher()(prev_hash, entry)


def lock_chain(connection: Connection) -> None:
    """Hold the chain for the rest of this transaction (released at commit or rollback)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))


def chain_head(connection: Connection) -> tuple[int, str]:
    row = connection.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(connection: Connection, entries: Sequence[dict[str, Any]],
           session_info: dict[str, Any] | None = None) -> list[int]:
    """Number, link and insert ``entries`` in order; returns their sequence numbers. With the
    session's ``info``, the head written is noted there for an automatic checkpoint."""
    if not entries:
        return []
    hasher = app_hasher()
    lock_chain(connection)
    seq, prev = chain_head(connection)
    rows = []
    for entry in entries:
        seq += 1
        row = {name: entry.get(name) for name in CHAINED_FIELDS if name != "id"}
        row.update(id=seq, prev_hash=prev)
        for name in ("entity_id", "field", "reason", "request_id", "ip", "client"):
            row[name] = row[name] if row[name] is not None else ""
        row["hash"] = prev = hasher(prev, row)
        rows.append(row)
    connection.execute(insert(AuditEntry), rows)
    if session_info is not None:
        session_info[HEAD] = (seq, prev)  # checkpointed after the commit (core.audit.checkpoints)
    return [row["id"] for row in rows]

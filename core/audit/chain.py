"""The hash chain: every audit entry commits to its content and to the entry before it.

``hash = HMAC-SHA256(integrity key, "audit-entry" NUL prev_hash NUL canonical JSON)``: keyed, so
someone with database write access but not the key cannot forge an entry, nor re-hash the chain
after editing one. Trails written before the chain was keyed start with entries hashed
``SHA-256("cqms.audit.v1" NUL prev_hash NUL canonical JSON)`` (``entry_hash``); verification
accepts those only before the first keyed entry. Appends to a chain are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already holds the
write lock), so a chain never forks.

On PostgreSQL the trail is several chains (``AUDIT_CHAINS``), so concurrent writers do not queue
on one lock: a transaction takes the first chain no other transaction holds
(``pg_try_advisory_xact_lock``), keeps it until it ends, and links its entries to that chain's
head. Entry ids come from a sequence; within a chain they rise in the order entries were linked,
so the chain is read back ordered by (chain, id). Each chain starts from its own genesis hash and
is checkpointed on its own. docs/decisions.md ("Partitioned audit chains") has the design.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Sequence as DbSequence
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Connection

from core.audit.models import AuditEntry
from core.integrity import integrity_key

DOMAIN = b"cqms.audit.v1"
KEYED_PURPOSE = b"audit-entry"
HEAD = "cqms_audit_head"  # session.info: {chain: (id, hash)} of the heads this transaction wrote
HELD = "cqms_audit_chain"  # session.info: the chain this transaction holds
GENESIS = "0" * 64
# Arbitrary constant naming the chains' advisory locks on PostgreSQL (with the chain number).
CHAIN_LOCK_KEY = 0x43514D53
ID_SEQUENCE = "core_audit_entry_id_seq"
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
    """The keyed hasher of this deployment (its integrity key), keyed once per key."""
    key = integrity_key()
    hashers = current_app.extensions["cqms"].__dict__.setdefault("_entry_hashers", {})
    if key not in hashers:
        hashers[key] = EntryHasher(key)
    return hashers[key]


def keyed_entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The hash the application writes for ``entry`` after ``prev_hash`` (needs the app)."""
    return app_hasher()(prev_hash, entry)


def genesis(chain: int) -> str:
    """The ``prev_hash`` of a chain's first entry (chain 0: the one chain of earlier trails)."""
    return GENESIS if chain == 0 else hashlib.sha256(f"cqms.audit.chain:{chain}".encode()).hexdigest()


def chain_count(connection: Connection) -> int:
    """How many chains new entries spread over: ``AUDIT_CHAINS`` on PostgreSQL; one on SQLite,
    whose single writer lock serialises every write anyway."""
    if connection.dialect.name != "postgresql":
        return 1
    return int(current_app.config.get("AUDIT_CHAINS", 1))  # 1..1024, checked at start-up


# The first chain, from this backend's own starting point, that no other transaction holds;
# locked by this statement until the transaction ends. Any chain works: the start only spreads
# concurrent writers. (Should the planner evaluate the lock for more rows than the one returned,
# this transaction merely holds extra chains: correctness needs only the one it uses.)
_FREE_CHAIN = text(
    "SELECT c FROM (SELECT (i + pg_backend_pid()) % :n AS c FROM generate_series(0, :n - 1) AS i)"
    " AS chains WHERE pg_try_advisory_xact_lock(:key, c) LIMIT 1"
)


# Statements of every append, built once (their construction costs more than a small query).
_LOCK_CHAIN = select(func.pg_advisory_xact_lock(CHAIN_LOCK_KEY, bindparam("chain")))
_NEWEST = (select(AuditEntry.id, AuditEntry.hash).where(AuditEntry.chain == bindparam("chain"))
           .order_by(AuditEntry.id.desc()).limit(1))
_SERIES = func.generate_series(1, bindparam("count")).table_valued("n")
_IDS = select(DbSequence(ID_SEQUENCE).next_value()).select_from(_SERIES)
_NEWEST_IN_FROM = _NEWEST.subquery()
# PostgreSQL, the chain held: its head and the new ids in one round trip.
_HEAD_AND_IDS = (select(DbSequence(ID_SEQUENCE).next_value(), _NEWEST_IN_FROM.c.id,
                        _NEWEST_IN_FROM.c.hash)
                 .select_from(_SERIES).outerjoin(_NEWEST_IN_FROM, text("true")))
_INSERT = insert(AuditEntry)


def hold_chain(connection: Connection, chains: int) -> int:
    """Take a chain for the rest of this transaction (released at commit or rollback): a free
    one if any, else wait for this backend's own."""
    if chains == 1:
        if connection.dialect.name == "postgresql":
            connection.execute(_LOCK_CHAIN, {"chain": 0})
        return 0
    free = connection.execute(_FREE_CHAIN, {"n": chains, "key": CHAIN_LOCK_KEY}).scalar()
    if free is not None:
        return int(free)
    chain = int(connection.execute(select(func.pg_backend_pid() % chains)).scalar_one())
    connection.execute(_LOCK_CHAIN, {"chain": chain})
    return chain


def chain_head(connection: Connection, chain: int = 0) -> tuple[int, str]:
    """(id, hash) of the newest entry of ``chain``, or (0, its genesis)."""
    row = connection.execute(_NEWEST, {"chain": chain}).first()
    return (row[0], row[1]) if row else (0, genesis(chain))


def chain_heads(connection: Connection) -> dict[int, tuple[int, str]]:
    """Every chain's head: {chain: (id, hash)} (no entry for a chain with no entries)."""
    newest = (select(AuditEntry.chain, func.max(AuditEntry.id).label("id"))
              .group_by(AuditEntry.chain).subquery())
    rows = connection.execute(
        select(newest.c.chain, AuditEntry.id, AuditEntry.hash)
        .join(AuditEntry, AuditEntry.id == newest.c.id)
    )
    return {chain: (seq, head) for chain, seq, head in rows}


def _new_ids(connection: Connection, count: int, head_seq: int) -> list[int]:
    """Ids for ``count`` new entries, rising: from the sequence (PostgreSQL), else after the
    head (SQLite: one chain, one writer)."""
    if connection.dialect.name != "postgresql":
        return list(range(head_seq + 1, head_seq + count + 1))
    return sorted(connection.execute(_IDS, {"count": count}).scalars())


def _head_and_ids(connection: Connection, chain: int,
                  count: int) -> tuple[tuple[int, str], list[int]]:
    """PostgreSQL, the chain held: its head and ``count`` new ids in one round trip. The
    statement's snapshot is taken after the lock was granted, so it sees the head the previous
    holder committed, and the ids drawn now come after that holder's."""
    rows = connection.execute(_HEAD_AND_IDS, {"chain": chain, "count": count}).all()
    head_id, head_hash = rows[0][1], rows[0][2]
    head = (head_id, head_hash) if head_id is not None else (0, genesis(chain))
    return head, sorted(row[0] for row in rows)


def append(connection: Connection, entries: Sequence[dict[str, Any]],
           session_info: dict[str, Any] | None = None) -> list[int]:
    """Link and insert ``entries`` in order on a chain this transaction holds; returns their
    ids. With the session's ``info``, the chain and the head written are kept there: later
    appends of the transaction continue it, and the head is checkpointed after the commit
    (core.audit.checkpoints)."""
    if not entries:
        return []
    hasher = app_hasher()
    heads = session_info.setdefault(HEAD, {}) if session_info is not None else {}
    chain = session_info.get(HELD) if session_info is not None else None
    if chain is None or chain not in heads:
        chain = hold_chain(connection, chain_count(connection))
        if session_info is not None:
            session_info[HELD] = chain
        if connection.dialect.name == "postgresql":
            heads[chain], ids = _head_and_ids(connection, chain, len(entries))
        else:
            heads[chain] = chain_head(connection, chain)
            ids = _new_ids(connection, len(entries), heads[chain][0])
    else:
        ids = _new_ids(connection, len(entries), heads[chain][0])
    seq, prev = heads[chain]
    rows = []
    for entry, seq in zip(entries, ids, strict=True):
        row = {name: entry.get(name) for name in CHAINED_FIELDS if name != "id"}
        row.update(id=seq, prev_hash=prev, chain=chain)
        for name in ("entity_id", "field", "reason", "request_id", "ip", "client"):
            row[name] = row[name] if row[name] is not None else ""
        row["hash"] = prev = hasher(prev, row)
        rows.append(row)
    connection.execute(_INSERT, rows)
    heads[chain] = (seq, prev)  # checkpointed after the commit
    return ids

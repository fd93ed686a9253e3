"""Verification of the audit trail: the keyed hash chain, signed checkpoints and reconcilers.

Finds an edited entry (content no longer matches its keyed hash), a forged one (hashed without
the integrity key), a deleted, moved or reordered one (broken link within its chain),
truncation (against signed checkpoints, in the database and in the checkpoint file), forged
checkpoints (bad MAC) and business rows changed outside the application (the reconcilers).
Each chain is walked in id order from its own genesis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.audit.chain import (
    CHAINED_FIELDS,
    EntryHasher,
    chain_heads,
    entry_hash,
    entry_hash_of_text,
    genesis,
)
from core.audit.entry_stream import CHAIN, HASH, PREV_HASH, canonical_text_function, stream_entries
from core.audit.models import AuditCheckpoint, AuditEntry
from core.integrity import integrity_key, mac, mac_ok

CHECKPOINT_PURPOSE = "audit-checkpoint"
MAX_FINDINGS = 100
PROGRESS_EVERY = 100_000
ENTITY_TYPE = CHAINED_FIELDS.index("entity_type")
ENTITY_ID = CHAINED_FIELDS.index("entity_id")
FIELD = CHAINED_FIELDS.index("field")


@dataclass(frozen=True)
class Finding:
    seq: int | None  # the entry's id
    entity: str
    problem: str
    chain: int = 0

    def line(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "trail"
        if self.seq is not None and self.chain:
            where += f" (chain {self.chain})"
        return f"{where}: {self.entity}: {self.problem}" if self.entity else f"{where}: {self.problem}"


@dataclass
class Report:
    entries: int = 0
    head_seq: int = 0  # the highest entry id
    heads: dict[int, int] = field(default_factory=dict)  # chain: id of its newest entry
    #: Entries of the first, unkeyed trail (before the chain was keyed): checked by hash only.
    legacy_entries: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the id of the chain's newest entry
    hash: str
    at: str
    mac: str
    source: str
    chain: int = 0

    def message(self) -> bytes:
        """What the MAC signs; chain 0's keeps the form of the single-chain trail."""
        signed = f"{self.seq}\x00{self.hash}\x00{self.at}"
        return (f"{self.chain}\x00{signed}" if self.chain else signed).encode()


def make_checkpoints(connection: Connection) -> list[Checkpoint]:
    """Sign every chain's current head and keep the checkpoints in the database too."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    heads = chain_heads(connection) or {0: (0, genesis(0))}
    points = []
    for chain, (seq, head) in sorted(heads.items()):
        point = Checkpoint(seq, head, at, "", "database", chain)
        point = Checkpoint(seq, head, at, mac(CHECKPOINT_PURPOSE, point.message()), "database",
                           chain)
        connection.execute(
            AuditCheckpoint.__table__.insert().values(chain=chain, seq=seq, hash=head,
                                                      mac=point.mac,
                                                      created_at=datetime.fromisoformat(at)))
        points.append(point)
    return points


def checkpoint_line(point: Checkpoint) -> str:
    fields: dict[str, Any] = {"v": 1, "seq": point.seq, "hash": point.hash, "at": point.at,
                              "mac": point.mac}
    if point.chain:
        fields["chain"] = point.chain
    return json.dumps(fields, separators=(",", ":"))


def read_checkpoint_file(path: Path) -> list[Checkpoint]:
    """Parse a checkpoint file; raises ValueError naming the bad line."""
    points = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            points.append(Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]),
                                     str(data["mac"]), f"{path.name} line {number}",
                                     int(data.get("chain", 0))))
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {number} is not a checkpoint") from None
    return points


def stored_checkpoints(connection: Connection) -> list[Checkpoint]:
    rows = connection.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
    return [
        Checkpoint(r.seq, r.hash, r.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                   r.mac, f"stored checkpoint #{r.id}", r.chain)
        for r in rows
    ]


def _typed_entry(connection: Connection, seq: int) -> dict[str, Any] | None:
    """One entry read through the ORM's types (as verify read every entry before the fast path)."""
    table = AuditEntry.__table__
    row = connection.execute(select(table).where(table.c.id == seq)).mappings().first()
    return dict(row) if row is not None else None


def _valid_checkpoints(checkpoints: Iterable[Checkpoint], report: Report) -> dict[int, Checkpoint]:
    expected: dict[int, Checkpoint] = {}
    for point in checkpoints:
        if not mac_ok(CHECKPOINT_PURPOSE, point.message(), point.mac):
            report.add(Finding(None, point.source, "checkpoint MAC is invalid (forged, or "
                               "signed with another key)"))
            continue
        expected.setdefault(point.seq, point)
    return expected


class _ChainWalk:
    """The walk along each chain: links, each entry's hash, signed checkpoints."""

    def __init__(self, connection: Connection, expected: dict[int, Checkpoint], report: Report,
                 key: bytes | None = None):
        self.connection, self.expected, self.report = connection, expected, report
        self.keyed = EntryHasher(key if key is not None else integrity_key())
        self.canonical_text = canonical_text_function(connection.dialect.name)
        self.chain: int | None = None
        self.prev, self.seq, self.keyed_seen = "", 0, False
        self.checkpointed_seen: set[int] = set()

    def walk(self, rows: Iterable[Sequence[Any]],
             progress: Callable[[int], None] | None = None) -> None:
        """Check ``rows`` in (chain, id) order; the common case (a keyed entry in its place)
        stays in this loop, anything else goes to the methods below (one loop: 1M entries a
        run)."""
        canonical_text, keyed_of_text = self.canonical_text, self.keyed.of_text
        checkpointed, report = bool(self.expected), self.report
        for row in rows:
            seq, prev_hash, stored = row[0], row[PREV_HASH], row[HASH]
            if row[CHAIN] != self.chain:
                self._start_chain(row[CHAIN])
            if prev_hash != self.prev:
                self._add(row, "link to the previous entry is broken (an entry was deleted, "
                          "reordered or replaced)")
            text = canonical_text(row)
            if text is not None and keyed_of_text(prev_hash, text) == stored:
                self.keyed_seen = True
            else:
                self._not_keyed(row, text)
            if checkpointed:
                self._against_checkpoint(row)
            self.prev, self.seq = stored, seq
            report.entries += 1
            if progress is not None and report.entries % PROGRESS_EVERY == 0:
                progress(report.entries)
        self._start_chain(None)

    def _start_chain(self, chain: int | None) -> None:
        if self.chain is not None:
            self.report.heads[self.chain] = self.seq
            self.report.head_seq = max(self.report.head_seq, self.seq)
        self.chain, self.seq = chain, 0
        self.prev = genesis(chain) if chain is not None else ""

    def _not_keyed(self, row: Sequence[Any], text: str | None) -> None:
        if text is not None and entry_hash_of_text(row[PREV_HASH], text) == row[HASH]:
            self._unkeyed(row)
        else:  # edited, or a form the fast path leaves to the ORM's types
            self._check_typed(row)

    def _check_typed(self, row: Sequence[Any]) -> None:
        entry = _typed_entry(self.connection, row[0])
        if entry is None:  # gone since the stream read it (changed during verification)
            self._add(row, "content does not match its hash (entry edited; field "
                      f"{row[FIELD] or '-'})")
        elif self.keyed(entry["prev_hash"], entry) == entry["hash"]:
            self.keyed_seen = True
        elif entry_hash(entry["prev_hash"], entry) != entry["hash"]:
            self._add(row, f"content does not match its hash (entry edited; field "
                      f"{entry['field'] or '-'})")
        else:
            self._unkeyed(row)

    def _unkeyed(self, row: Sequence[Any]) -> None:
        if self.keyed_seen:
            self._add(row, "hashed without the integrity key: not written by the application "
                      "(forged or re-hashed)")
        else:
            self.report.legacy_entries += 1

    def _against_checkpoint(self, row: Sequence[Any]) -> None:
        point = self.expected.get(row[0])
        if point is None:
            return
        self.checkpointed_seen.add(row[0])
        if (point.hash, point.chain) != (row[HASH], row[CHAIN]):
            self._add(row, f"hash differs from {point.source} signed {point.at} (chain "
                      "rewritten and re-hashed)")

    def _add(self, row: Sequence[Any], problem: str) -> None:
        entity = f"{row[ENTITY_TYPE]} {row[ENTITY_ID]}".strip()
        self.report.add(Finding(row[0], entity, problem, row[CHAIN]))


def verify(
    connection: Connection,
    checkpoints: Iterable[Checkpoint] = (),
    reconcilers: Iterable[Callable[[Connection, Report], None]] = (),
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
) -> Report:
    """Walk the chains, compare them with ``checkpoints``, then run ``reconcilers``;
    ``progress`` is called with the number of entries checked every ``PROGRESS_EVERY`` entries
    (one process). With ``jobs`` > 1 on PostgreSQL, that many processes walk a share of the
    chains each (core.audit.verify_parallel)."""
    report = Report()
    expected = _valid_checkpoints(checkpoints, report)
    if jobs > 1 and connection.dialect.name == "postgresql":
        from core.audit.verify_parallel import walk_in_parallel

        seen = walk_in_parallel(connection, expected, report, jobs, integrity_key())
    else:
        walk = _ChainWalk(connection, expected, report)
        walk.walk(stream_entries(connection), progress)
        seen = walk.checkpointed_seen
    for point in expected.values():
        seq = report.heads.get(point.chain, 0)
        trail = f"chain {point.chain}" if point.chain else "the trail"
        if point.seq > seq:
            report.add(Finding(None, "", f"{trail} ends at seq {seq} but {point.source} "
                               f"signed {point.at} records seq {point.seq} (truncated)"))
        elif point.seq and point.seq not in seen:
            report.add(Finding(point.seq, "", f"signed by {point.source} {point.at} but gone "
                               "(deleted, or the chain was cut and grew again)", point.chain))
    for reconcile in reconcilers:
        reconcile(connection, report)
    return report


def check_entries(connection: Connection, ids: Iterable[int]) -> list[str]:
    """These entries checked one by one, for one record's page ("Verify this record"; ``verify``
    walks everything): each one's keyed hash, the previous entry of its chain it names, and the
    next entry naming it. Problems in words; empty when all hold."""
    hasher, table, problems = EntryHasher(integrity_key()), AuditEntry.__table__, []
    for seq in ids:
        entry = _typed_entry(connection, seq)
        if entry is None:
            problems.append(f"History entry {seq} is gone.")
            continue
        what = f"History entry {seq} ({entry['field'] or entry['action']})"
        if hasher(entry["prev_hash"], entry) != entry["hash"]:
            unkeyed = entry_hash(entry["prev_hash"], entry) == entry["hash"]
            problems.append(f"{what} was not written by the application (no integrity key)."
                            if unkeyed else f"{what} was edited: it no longer matches its hash.")
        chain = entry["chain"]
        before = connection.execute(select(table.c.hash).where(
            table.c.chain == chain, table.c.id < seq).order_by(table.c.id.desc()).limit(1)
        ).scalar()
        if (before if before is not None else genesis(chain)) != entry["prev_hash"]:
            problems.append(f"{what}: the entry before it was deleted, moved or replaced.")
        after = connection.execute(select(table.c.prev_hash).where(
            table.c.chain == chain, table.c.id > seq).order_by(table.c.id).limit(1)).scalar()
        if after is not None and after != entry["hash"]:
            problems.append(f"{what}: the entry after it no longer follows it.")
    return problems

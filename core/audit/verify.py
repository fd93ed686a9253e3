"""Verification of the audit trail: the keyed hash chain, signed checkpoints and reconcilers.

Finds an edited entry (content no longer matches its keyed hash), a forged one (hashed without
the integrity key), a deleted or reordered one (sequence gap or broken link), truncation
(against signed checkpoints, in the database and in the checkpoint file), forged checkpoints
(bad MAC) and business rows changed outside the application (the reconcilers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.audit.chain import GENESIS, EntryHasher, chain_head, entry_hash
from core.audit.models import AuditCheckpoint, AuditEntry
from core.integrity import integrity_key, mac, mac_ok

CHECKPOINT_PURPOSE = "audit-checkpoint"
MAX_FINDINGS = 100


@dataclass(frozen=True)
class Finding:
    seq: int | None
    entity: str
    problem: str

    def line(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "trail"
        return f"{where}: {self.entity}: {self.problem}" if self.entity else f"{where}: {self.problem}"


@dataclass
class Report:
    entries: int = 0
    head_seq: int = 0
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
    seq: int
    hash: str
    at: str
    mac: str
    source: str

    def message(self) -> bytes:
        return f"{self.seq}\x00{self.hash}\x00{self.at}".encode()


def make_checkpoint(connection: Connection) -> Checkpoint:
    """Sign the current chain head and keep the checkpoint in the database too."""
    seq, head = chain_head(connection)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    point = Checkpoint(seq, head, at, "", "database")
    point = Checkpoint(seq, head, at, mac(CHECKPOINT_PURPOSE, point.message()), "database")
    connection.execute(
        AuditCheckpoint.__table__.insert().values(seq=seq, hash=head, mac=point.mac,
                                                  created_at=datetime.fromisoformat(at))
    )
    return point


def checkpoint_line(point: Checkpoint) -> str:
    return json.dumps({"v": 1, "seq": point.seq, "hash": point.hash, "at": point.at,
                       "mac": point.mac}, separators=(",", ":"))


def read_checkpoint_file(path: Path) -> list[Checkpoint]:
    """Parse a checkpoint file; raises ValueError naming the bad line."""
    points = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            points.append(Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]),
                                     str(data["mac"]), f"{path.name} line {number}"))
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {number} is not a checkpoint") from None
    return points


def stored_checkpoints(connection: Connection) -> list[Checkpoint]:
    rows = connection.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
    return [
        Checkpoint(r.seq, r.hash, r.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                   r.mac, f"stored checkpoint #{r.id}")
        for r in rows
    ]


def _entries(connection: Connection) -> Iterator[Any]:
    table = AuditEntry.__table__
    result = connection.execution_options(yield_per=5000).execute(
        select(table).order_by(table.c.id)
    )
    keys = list(result.keys())
    for row in result:  # plain dicts: several times cheaper per lookup than RowMapping
        yield dict(zip(keys, row, strict=True))


def verify(
    connection: Connection,
    checkpoints: Iterable[Checkpoint] = (),
    reconcilers: Iterable[Callable[[Connection, Report], None]] = (),
) -> Report:
    report = Report()
    expected: dict[int, Checkpoint] = {}
    for point in checkpoints:
        if not mac_ok(CHECKPOINT_PURPOSE, point.message(), point.mac):
            report.add(Finding(None, point.source, "checkpoint MAC is invalid (forged, or "
                               "signed with another key)"))
            continue
        expected.setdefault(point.seq, point)
    keyed = EntryHasher(integrity_key())
    prev, seq, keyed_seen = GENESIS, 0, False
    for row in _entries(connection):
        report.entries += 1
        entity = f"{row['entity_type']} {row['entity_id']}".strip()
        if row["id"] != seq + 1:
            report.add(Finding(row["id"], entity, f"entries {seq + 1}..{row['id'] - 1} are "
                               "missing (deleted)"))
        elif row["prev_hash"] != prev:
            report.add(Finding(row["id"], entity, "link to the previous entry is broken "
                               "(an entry was deleted, reordered or replaced)"))
        if keyed(row["prev_hash"], row) == row["hash"]:
            keyed_seen = True
        elif entry_hash(row["prev_hash"], row) != row["hash"]:
            report.add(Finding(row["id"], entity, f"content does not match its hash (entry "
                               f"edited; field {row['field'] or '-'})"))
        elif keyed_seen:
            report.add(Finding(row["id"], entity, "hashed without the integrity key: not "
                               "written by the application (forged or re-hashed)"))
        else:
            report.legacy_entries += 1
        point = expected.get(row["id"])
        if point is not None and point.hash != row["hash"]:
            report.add(Finding(row["id"], entity, f"hash differs from {point.source} signed "
                               f"{point.at} (chain rewritten and re-hashed)"))
        prev, seq = row["hash"], row["id"]
    report.head_seq = seq
    for point in expected.values():
        if point.seq > seq:
            report.add(Finding(None, "", f"the trail ends at seq {seq} but {point.source} "
                               f"signed {point.at} records seq {point.seq} (truncated)"))
    for reconcile in reconcilers:
        reconcile(connection, report)
    return report

"""``cqms audit verify --jobs N`` on PostgreSQL: N processes each read and check a share of the
chains on a connection of their own; their counts, heads and findings are merged, then the
checkpoints and reconcilers are checked as for one process. Each process reads its own snapshot:
entries appended meanwhile may be seen on one chain and not yet on another, as in a later run."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Connection

from core.audit.entry_stream import stream_entries
from core.audit.models import AuditEntry
from core.audit.verify import Checkpoint, Report, _ChainWalk


def _walk_share(url: str, key: bytes, chains: list[int],
                expected: dict[int, Checkpoint]) -> tuple[Report, set[int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            report = Report()
            walk = _ChainWalk(connection, expected, report, key)
            walk.walk(stream_entries(connection, chains))
            return report, walk.checkpointed_seen
    finally:
        engine.dispose()


def walk_in_parallel(connection: Connection, expected: dict[int, Checkpoint], report: Report,
                     jobs: int, key: bytes) -> set[int]:
    """Walk every chain, ``jobs`` processes at a time, into ``report``; returns the ids of the
    checkpointed entries found."""
    chains = list(connection.execute(select(AuditEntry.chain).distinct()
                                     .order_by(AuditEntry.chain)).scalars())
    shares = [chains[n::jobs] for n in range(jobs) if chains[n::jobs]]
    if not shares:
        return set()
    url = connection.engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(len(shares), mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(_walk_share, [url] * len(shares), [key] * len(shares), shares,
                              [expected] * len(shares)))
    seen: set[int] = set()
    findings = []
    for part, part_seen in parts:
        report.entries += part.entries
        report.legacy_entries += part.legacy_entries
        report.heads.update(part.heads)
        report.head_seq = max(report.head_seq, part.head_seq)
        findings += part.findings
        seen |= part_seen
    for finding in sorted(findings, key=lambda f: (f.chain, f.seq or 0)):
        report.add(finding)
    return seen

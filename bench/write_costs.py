"""Helpers of bench.kernel that need nothing of its record type: the floor's stand-in for the
audit trail, and the CPU a piece of work used (this process and the PostgreSQL server)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, Table, UniqueConstraint, insert, update


def floor_trail(engine):  # type: ignore[no-untyped-def]
    """A table with the audit trail's columns, keys and indexes (not the trail: nothing chains
    or verifies it), for the floor's one audit row."""
    from core.audit.models import AuditEntry

    source = AuditEntry.__table__
    table = Table("bench_floor_trail", MetaData(), *[
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in source.columns])
    for index in source.indexes:
        Index(index.name.replace(source.name, table.name),
              *[table.c[c.name] for c in index.columns], unique=index.unique)
    UniqueConstraint(table.c.hash)
    table.create(engine, checkfirst=True)
    return table


def floor_counter(engine):  # type: ignore[no-untyped-def]
    """A one-row number counter for the create floor: the gapless number any numbered create
    must take in its transaction."""
    table = Table("bench_floor_counter", MetaData(), Column("id", Integer, primary_key=True),
                  Column("value", Integer, nullable=False))
    table.create(engine, checkfirst=True)
    with engine.begin() as connection:
        if connection.execute(table.select()).first() is None:
            connection.execute(insert(table), [{"id": 1, "value": 0}])
    return table


def next_floor_number(session, counter) -> int:  # type: ignore[no-untyped-def]
    return session.execute(update(counter).where(counter.c.id == 1)
                           .values(value=counter.c.value + 1).returning(counter.c.value)).scalar()


def floor_row(n: int, record_id: int, user_id: int) -> dict[str, Any]:
    from core.db import utcnow

    return {"chain": 0, "at": utcnow(), "actor_id": user_id, "actor_name": "Bench User (bencher)",
            "action": "update", "entity_type": "bench_item", "entity_id": str(record_id),
            "field": "alpha", "old_value": f"x{n - 1}", "new_value": f"x{n}", "reason": "",
            "request_id": "", "ip": "", "client": "", "entity_version": n,
            "prev_hash": f"{n - 1:064x}", "hash": f"{n:064x}"}


def cpu_seconds() -> float:
    """CPU time used so far by this process and by every PostgreSQL server process of the
    machine (the bench's own backends on an otherwise idle machine; 0 for SQLite's)."""
    tick = os.sysconf("SC_CLK_TCK")
    server = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
        if name.startswith("postgres"):
            fields = rest.split()
            server += int(fields[11]) + int(fields[12])  # utime, stime
    return time.process_time() + server / tick

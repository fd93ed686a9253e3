"""Reconciler for ``cqms audit verify``: each record's content matches its content hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.audit.verify import Finding
from core.records.content import content_hash, content_of
from core.records.models import Record


def reconcile_record_hashes(connection: Connection, report: Any) -> None:
    """Each record's controlled content matches its stored content hash (read through
    ``connection``, so a verification inside a transaction sees that transaction's rows)."""
    with Session(bind=connection) as session:
        for record in session.scalars(select(Record).order_by(Record.id)):
            if content_hash(content_of(record)) != record.content_hash:
                report.add(Finding(None, f"{record.number} ({record.type} {record.id})",
                                   "content does not match the record's hash (edited outside "
                                   "the application)"))

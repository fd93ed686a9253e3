"""Gapless human numbers (``CAPA-2026-0001``) from a counter row, never a sequence.

The counter is incremented with an atomic upsert inside the creating transaction, so a rolled
back creation gives its number back and two concurrent creators queue on the row lock.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from core.db import db, utcnow
from core.records.models import Counter
from core.specs import RecordType


def _upsert(dialect: str):  # type: ignore[no-untyped-def]
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Counter)


def next_number(record_type: RecordType) -> str:
    period = str(utcnow().year) if record_type.number_per_year else ""
    dialect = db.session.get_bind().dialect.name
    stmt = (
        _upsert(dialect)
        .values(record_type=record_type.key, period=period, value=1)
        .on_conflict_do_update(
            index_elements=["record_type", "period"], set_={"value": Counter.value + 1}
        )
        .returning(Counter.value)
    )
    value = db.session.execute(stmt).scalar_one()
    parts = [record_type.number_prefix, period, f"{value:0{record_type.number_digits}d}"]
    return "-".join(p for p in parts if p)

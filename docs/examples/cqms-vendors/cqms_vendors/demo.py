"""Demo data for `cqms demo`: one draft Vendor record of the demo author (idempotent)."""

from __future__ import annotations

from sqlalchemy import select

from core import Record, create_record, db

DEMO_TITLE = "Demo Vendor"


def load(users):  # type: ignore[no-untyped-def]
    if "author" not in users:
        return "vendors: no demo author, nothing loaded"
    if db.session.scalar(select(Record.id).where(Record.type == "vendors_vendor",
                                                 Record.title == DEMO_TITLE)) is None:
        create_record("vendors_vendor", users["author"], title=DEMO_TITLE,
                      description="Made by cqms demo.", reason="Demo data")
        db.session.commit()
    return "vendors: demo record present"

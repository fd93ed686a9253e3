"""The CAPA plugin's part of the periodic system review (A11-11, E6-23): the system incidents
and system issues (helpdesk) reported in the period, and the open CAPAs addressing any system
incident or issue, whenever it was reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core import Record, category_of, db
from plugins.capa import queries
from plugins.capa.models import QualityEvent

SYSTEM_CATEGORIES = ("system_incident", "system_issue")


def _words(state: str) -> str:
    return state.replace("_", " ")


def system_events(start: datetime | None = None,
                  end: datetime | None = None) -> list[QualityEvent]:
    """Events of a system category, reported from ``start`` (included) to ``end`` (excluded)."""
    reported = func.coalesce(QualityEvent.reported_at, Record.created_at)
    stmt = select(QualityEvent).where(QualityEvent.category.in_(SYSTEM_CATEGORIES))
    if start is not None:
        stmt = stmt.where(reported >= start)
    if end is not None:
        stmt = stmt.where(reported < end)
    return list(db.session.scalars(stmt.order_by(reported, QualityEvent.id)))


def _event_line(event: QualityEvent) -> str:
    reported = event.reported_at or event.created_at
    return (f"{event.number} {queries.category_label(event.category)}: {event.title} "
            f"({_words(event.state)}, {event.severity} severity, reported "
            f"{reported:%Y-%m-%d})")


def open_system_capas() -> list[tuple[Any, list[QualityEvent]]]:
    """Open CAPAs addressing a system incident or issue, each with those events."""
    found: dict[int, tuple[Any, list[QualityEvent]]] = {}
    for event in system_events():
        for capa in queries.capas_for(event):
            if category_of(capa) in ("draft", "open"):
                found.setdefault(capa.id, (capa, []))[1].append(event)
    return [found[key] for key in sorted(found)]


def review_sections(start: datetime, end: datetime) -> list[dict[str, Any]]:
    events = [_event_line(e) for e in system_events(start, end)]
    capas = [f"{capa.number} {capa.title} ({_words(capa.state)}, due "
             f"{capa.due_date.isoformat() if capa.due_date else 'not set'}), addresses "
             f"{', '.join(e.number for e in addressed)}"
             for capa, addressed in open_system_capas()]
    return [
        {"title": "System incidents and system issues reported in the period",
         "lines": events or ["No system incident or system issue reported in the period."],
         "flagged": len(events)},
        {"title": "Open CAPAs on the system",
         "lines": capas or ["No open CAPA addresses a system incident or issue."],
         "flagged": len(capas)},
    ]

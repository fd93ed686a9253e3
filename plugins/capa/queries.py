"""Reads of the CAPA plugin: actions, the records linked along the chain, similar events, the
configurable lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import Record, User, category_of, db, get_setting, linked, scope_clause, states_in
from plugins.capa.models import AnalysisLine, Capa, CapaAction, EventCategory, QualityEvent, RootCause

ADDRESSES = "capa_addresses"          # CAPA -> event / audit finding
FOLLOWS_UP = "capa_follows_up"        # CAPA -> the CAPA it replaces
RAISED_FROM = "capa_raised_from"      # event -> the record it was raised from (finding, risk...)
RESULTED_IN = "capa_resulted_in"      # CAPA -> what its actions produced (an SOP version...)
RISK = "capa_reevaluates"             # CAPA -> a risk to re-evaluate
CHANGE = "capa_requires_change"       # CAPA -> a change request


def actions_of(capa: Capa) -> list[CapaAction]:
    return list(db.session.scalars(select(CapaAction).where(CapaAction.record_id == capa.id)
                                   .order_by(CapaAction.id)))


def analysis_of(event: QualityEvent) -> list[AnalysisLine]:
    return list(db.session.scalars(select(AnalysisLine).where(AnalysisLine.record_id == event.id)
                                   .order_by(AnalysisLine.id)))


def capas_for(record: Record) -> list[Capa]:
    """Live CAPAs addressing ``record`` (an event or a finding), cancelled ones left out."""
    return [c for c in linked(record, ADDRESSES, direction="in")
            if isinstance(c, Capa) and category_of(c) != "cancelled"]


def addressed_by(capa: Capa) -> list[Record]:
    """The events and findings ``capa`` addresses."""
    return linked(capa, ADDRESSES, direction="out")


def unresolved(capa: Capa, kind: str) -> list[Record]:
    """Records linked from ``capa`` as ``kind`` still being prepared or open."""
    return [r for r in linked(capa, kind, direction="out")
            if category_of(r) in ("draft", "open")]


def category(key: str) -> EventCategory | None:
    return db.session.scalar(select(EventCategory).where(EventCategory.key == key))


def category_choices() -> list[tuple[str, str]]:
    rows = db.session.scalars(select(EventCategory).where(EventCategory.active.is_(True))
                              .order_by(EventCategory.id))
    return [(c.key, c.label) for c in rows]


def root_cause_choices() -> list[tuple[str, str]]:
    rows = db.session.scalars(select(RootCause).where(RootCause.active.is_(True))
                              .order_by(RootCause.id))
    return [("", "(not yet known)"), *((r.key, r.label) for r in rows)]


def category_label(key: str) -> str:
    found = category(key)
    return found.label if found is not None else key


def similar_events(event: QualityEvent, now: datetime, limit: int = 10) -> list[QualityEvent]:
    """Events of the same category, or of the same process area at the same study or site,
    reported within the look-back (``capa.similar_days``) and visible to the reporter, newest
    first."""
    since = now - timedelta(days=get_setting("capa.similar_days"))
    same_place: Any = QualityEvent.category == event.category
    if event.process_area:
        place = (Record.site_id == event.site_id) if event.site_id else (
            Record.study_id == event.study_id)
        same_place = same_place | ((QualityEvent.process_area == event.process_area) & place)
    stmt = (select(QualityEvent).where(QualityEvent.reported_at >= since, same_place,
                                       Record.state.in_(states_in("capa_event", "open",
                                                                  "closed")))
            .order_by(QualityEvent.reported_at.desc(), QualityEvent.id.desc()).limit(limit))
    if event.id is not None:
        stmt = stmt.where(QualityEvent.id != event.id)
    reporter = User.by_id(event.created_by_id)
    stmt = stmt.where(scope_clause(reporter, "capa.view", Record.study_id, Record.site_id))
    return list(db.session.scalars(stmt))


def linked_results(capa: Capa) -> list[Record]:
    return linked(capa, RESULTED_IN, direction="out")


def linked_risks(capa: Capa) -> list[Record]:
    return linked(capa, RISK, direction="out")

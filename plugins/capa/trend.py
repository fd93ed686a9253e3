"""Counts for dashboards and management review, in the viewer's scope: events per month by
category, study or site; open CAPAs by age; overdue actions and checks; median days to close."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select

from core import Record, Site, Study, db, scope_clause, states_in, utcnow
from plugins.capa import queries
from plugins.capa.models import Capa, CapaAction, QualityEvent

VIEW = "capa.view"
AGE_BUCKETS = ((30, "under 30 days"), (60, "30-59 days"), (90, "60-89 days"),
               (None, "90 days or more"))
GROUPS = ("category", "study", "site")


def _in_scope(user: Any) -> Any:
    return scope_clause(user, VIEW, Record.study_id, Record.site_id)


def month_start(months_back: int, today: date) -> datetime:
    year, month = today.year, today.month - months_back + 1
    while month <= 0:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=utcnow().tzinfo)


def events_per_month(user: Any, months: int, by: str) -> list[dict[str, Any]]:
    """``[{"month": "2026-11", "key": ..., "label": ..., "events": n}]``, oldest first."""
    since = month_start(months, utcnow().date())
    column = {"category": QualityEvent.category, "study": Study.code,
              "site": Site.code}[by]
    stmt = (select(QualityEvent.reported_at, column).select_from(QualityEvent)
            .where(QualityEvent.reported_at >= since, _in_scope(user),
                   Record.state != "cancelled"))
    if by == "study":
        stmt = stmt.outerjoin(Study, Study.id == Record.study_id)
    elif by == "site":
        stmt = stmt.outerjoin(Site, Site.id == Record.site_id)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for reported_at, key in db.session.execute(stmt):
        counts[(f"{reported_at:%Y-%m}", key or "")] += 1
    labels = dict(queries.category_choices()) if by == "category" else {}
    return [{"month": month, "key": key, "label": labels.get(key, key or "(none)"),
             "events": n} for (month, key), n in sorted(counts.items())]


def open_capas_by_age(user: Any) -> list[tuple[str, int]]:
    today = utcnow().date()
    created = db.session.scalars(select(Capa.created_at).where(
        Record.state.in_(states_in("capa_capa", "draft", "open")), _in_scope(user)))
    counts = dict.fromkeys((label for _, label in AGE_BUCKETS), 0)
    for when in created:
        age = (today - when.date()).days
        label = next(label for limit, label in AGE_BUCKETS if limit is None or age < limit)
        counts[label] += 1
    return [(label, n) for label, n in counts.items()]


def overdue_work(user: Any) -> dict[str, int]:
    today = utcnow().date()
    actions = db.session.scalar(
        select(func.count()).select_from(CapaAction).join(Capa, Capa.id == CapaAction.record_id)
        .where(Record.state == "implementation", CapaAction.completed_at.is_(None),
               CapaAction.due_date < today, _in_scope(user))) or 0
    checks = db.session.scalar(
        select(func.count()).select_from(Capa).where(
            Record.state == "effectiveness_check", Capa.check_due_date < today,
            _in_scope(user))) or 0
    return {"actions": actions, "checks": checks}


def median_days_to_close(user: Any, months: int = 6) -> list[tuple[str, int]]:
    """Per month of closure: the median days from creation to closure of the CAPAs closed."""
    since = month_start(months, utcnow().date())
    rows = db.session.execute(select(Capa.created_at, Capa.updated_at).where(
        Record.state == "closed", Capa.updated_at >= since, _in_scope(user)))
    days: dict[str, list[int]] = defaultdict(list)
    for created, closed in rows:
        days[f"{closed:%Y-%m}"].append(max(0, (closed - created) // timedelta(days=1)))
    return [(month, round(median(values))) for month, values in sorted(days.items())]

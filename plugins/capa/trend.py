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


def _month(column: Any) -> Any:
    """``YYYY-MM`` of a UTC timestamp column, computed by the database."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, 1, 7)  # SQLite keeps UTC timestamps as ISO text


def _grouping(by: str) -> Any:
    """The column an event count is grouped by."""
    return {"category": QualityEvent.category, "study": Record.study_id,
            "site": Record.site_id}[by]


def _labels(by: str) -> dict[Any, tuple[str, str]]:
    """(key, label) per grouped value: a category's label, a study's code, a site as
    study/site (site codes repeat across studies)."""
    if by == "category":
        return {k: (k, label) for k, label in queries.category_choices()}
    if by == "study":
        return {s.id: (s.code, s.code) for s in Study.pick_list()}
    return {s.id: (s.audit_label(), s.audit_label()) for s in Site.pick_list()}


def _counts(user: Any, months: int, by: str, *, per_month: bool) -> list[tuple[Any, ...]]:
    since = month_start(months, utcnow().date())
    column = _grouping(by)
    keys = (_month(QualityEvent.reported_at), column) if per_month else (column,)
    stmt = (select(*keys, func.count()).select_from(QualityEvent)
            .where(QualityEvent.reported_at >= since, _in_scope(user),
                   Record.state != "cancelled").group_by(*keys))
    return list(db.session.execute(stmt).all())


def events_per_month(user: Any, months: int, by: str) -> list[dict[str, Any]]:
    """``[{"month": "2026-11", "key": ..., "label": ..., "events": n}]``, oldest first, grouped
    in the database (in the viewer's scope, cancelled events left out)."""
    rows = _counts(user, months, by, per_month=True)
    labels = _labels(by)
    out = [{"month": month, "key": labels.get(key, (key or "", ""))[0],
            "label": labels.get(key, ("", key or "(none)"))[1], "events": n}
           for month, key, n in rows]
    return sorted(out, key=lambda r: (r["month"], r["key"]))


def events_in_months(user: Any, months: int, by: str) -> list[tuple[str, int]]:
    """(label, events) over the last ``months`` months, the most events first."""
    rows = _counts(user, months, by, per_month=False)
    labels = _labels(by)
    totals = [(labels.get(key, ("", key or "(none)"))[1], n) for key, n in rows]
    return sorted(totals, key=lambda r: (-r[1], r[0]))


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

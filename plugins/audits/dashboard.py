"""The audits dashboard card, in the viewer's scope: audits planned and done this year, open
findings by classification and age, and the auditees with most open findings."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import func, select

from core import Record, bar_chart, db, scope_clause, states_in, utcnow
from plugins.audits.models import CLASSIFICATIONS, Audit, Finding

VIEW = "audits.view"
AGES = ((30, "under 30 days"), (90, "30-89 days"), (None, "90 days or more"))


def _in_scope(user: Any) -> Any:
    return scope_clause(user, VIEW, Record.study_id, Record.site_id)


def audits_context(user: Any) -> dict[str, Any]:
    today = utcnow().date()
    year = (Audit.planned_date >= date(today.year, 1, 1), Audit.planned_date <= today.replace(
        month=12, day=31))
    done_states = states_in("audits_audit", "closed") + ("reporting", "report_approved")
    planned = db.session.scalar(select(func.count()).select_from(Audit).where(
        *year, Record.state != "cancelled", _in_scope(user))) or 0
    done = db.session.scalar(select(func.count()).select_from(Audit).where(
        *year, Record.state.in_(done_states), _in_scope(user))) or 0
    overdue = db.session.scalar(select(func.count()).select_from(Audit).where(
        Audit.planned_date < today, Record.state == "planned", _in_scope(user))) or 0
    rows = db.session.execute(select(Finding.classification, Finding.created_at, Finding.audit_id)
                              .where(Record.state.in_(states_in("audits_finding", "open")),
                                     _in_scope(user))).all()
    by_class = Counter(dict(CLASSIFICATIONS).get(c, c) for c, _, _ in rows)
    ages: Counter[str] = Counter()
    for _, created, _ in rows:
        days = (today - created.date()).days
        ages[next(label for limit, label in AGES if limit is None or days < limit)] += 1
    auditees: Counter[str] = Counter()
    if rows:
        audit_ids = {a for _, _, a in rows}
        names = dict(db.session.execute(select(Audit.__table__.c.id, Audit.__table__.c.auditee)
                                        .where(Audit.__table__.c.id.in_(audit_ids))).all())
        auditees = Counter(names.get(a) or "-" for _, _, a in rows)
    return {"planned": planned, "done": done, "overdue": overdue, "open_findings": len(rows),
            "by_class": bar_chart([(label, by_class[label]) for _, label in CLASSIFICATIONS
                                   if by_class[label]]),
            "ages": [(label, ages[label]) for _, label in AGES],
            "auditees": auditees.most_common(5)}

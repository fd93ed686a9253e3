"""The training dashboard cards: one's own open training, and compliance by role and study in
the viewer's matrix scope (with the overdue count)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core import Record, Study, db, scope_clause, utcnow
from plugins.training import queries
from plugins.training.matrix import MATRIX, Filters, build_matrix
from plugins.training.models import TrainingAssignment

NEXT_DUE = 5
STUDIES_SHOWN = 10  # the first studies by code: one matrix each


def my_training_context(user: Any) -> dict[str, Any]:
    today = utcnow().date()
    mine = [TrainingAssignment.trainee_id == user.id, Record.state == "assigned"]
    count = select(func.count()).select_from(TrainingAssignment)
    open_count = db.session.scalar(count.where(*mine)) or 0
    overdue = db.session.scalar(count.where(*mine, TrainingAssignment.due_date < today)) or 0
    upcoming = list(db.session.scalars(select(TrainingAssignment).where(*mine).order_by(
        TrainingAssignment.due_date, TrainingAssignment.id).limit(NEXT_DUE)))
    return {"open_count": open_count, "overdue": overdue, "upcoming": upcoming, "today": today}


def _percent(rows: list[Any]) -> tuple[int, int, int | None]:
    compliant = sum(r.compliance[0] for r in rows)
    required = sum(r.compliance[1] for r in rows)
    return compliant, required, round(100 * compliant / required) if required else None


def compliance_context(user: Any) -> dict[str, Any]:
    """Compliance (trained / required cells) per role of the active curricula and per study;
    each figure is the matrix of that filter, so it honours the viewer's scope."""
    by_role = []
    for role_key in sorted({c.role_key for c in queries.active_curricula()}):
        rows = build_matrix(user, Filters(role=role_key), limit=None).rows
        by_role.append((role_key, len(rows), *_percent(rows)))
    by_study = []
    for study in db.session.scalars(select(Study).order_by(Study.code).limit(STUDIES_SHOWN)):
        rows = build_matrix(user, Filters(study_id=study.id), limit=None).rows
        if rows:
            by_study.append((study.code, len(rows), *_percent(rows)))
    overdue = db.session.scalar(select(func.count()).select_from(TrainingAssignment).where(
        Record.state == "assigned", TrainingAssignment.due_date < utcnow().date(),
        scope_clause(user, MATRIX, Record.study_id, Record.site_id))) or 0
    return {"by_role": by_role, "by_study": by_study, "overdue": overdue}

"""The training dashboard cards: one's own open training, and compliance by role and study in
the viewer's matrix scope (with the overdue count)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, or_, select

from core import Record, Study, db, scope_clause, utcnow
from plugins.training import queries
from plugins.training.matrix import MATRIX
from plugins.training.models import Curriculum, TrainingAssignment

NEXT_DUE = 5
STUDIES_SHOWN = 10  # the first studies by code


def my_training_context(user: Any) -> dict[str, Any]:
    today = utcnow().date()
    mine = [TrainingAssignment.trainee_id == user.id, Record.state.in_(queries.open_states())]
    count = select(func.count()).select_from(TrainingAssignment)
    open_count = db.session.scalar(count.where(*mine)) or 0
    overdue = db.session.scalar(count.where(*mine, TrainingAssignment.due_date < today)) or 0
    upcoming = list(db.session.scalars(select(TrainingAssignment).where(*mine).order_by(
        TrainingAssignment.due_date, TrainingAssignment.id).limit(NEXT_DUE)))
    return {"open_count": open_count, "overdue": overdue, "upcoming": upcoming, "today": today}


def _figures(rows: Any) -> list[tuple[str, int, int, int, int | None]]:
    return [(key or "(no curriculum)", people, trained, pairs,
             round(100 * trained / pairs) if pairs else None)
            for key, people, trained, pairs in rows]


def compliance_context(user: Any) -> dict[str, Any]:
    """Compliance of assigned training in the viewer's matrix scope, by the role of the
    curriculum that required it and by study: one aggregate over (person, requirement) pairs,
    a pair trained when it has a valid completion (or waiver) and no open assignment other than
    a renewal. Requirements never assigned are not counted here (the matrix shows them)."""
    today = utcnow().date()
    curriculum = Curriculum.__table__
    trained = case((or_(Record.state == "waived", and_(
        Record.state == "completed", or_(TrainingAssignment.expires_on.is_(None),
                                         TrainingAssignment.expires_on >= today))), 1), else_=0)
    stale = case((and_(Record.state == "assigned", TrainingAssignment.trigger != "expiry"), 1),
                 else_=0)
    pairs = (select(TrainingAssignment.trainee_id,
                    func.max(curriculum.c.role_key).label("role_key"),
                    func.max(Record.study_id).label("study_id"),
                    func.max(trained).label("trained"), func.max(stale).label("stale"))
             .select_from(TrainingAssignment)
             .outerjoin(curriculum, curriculum.c.id == TrainingAssignment.curriculum_id)
             .where(Record.state.in_(queries.live_states()),
                    scope_clause(user, MATRIX, Record.study_id, Record.site_id))
             .group_by(TrainingAssignment.trainee_id, TrainingAssignment.requirement_id)
             .subquery())
    ok = func.sum(case((and_(pairs.c.trained == 1, pairs.c.stale == 0), 1), else_=0))
    figures = (func.count(func.distinct(pairs.c.trainee_id)), ok, func.count())
    by_role = db.session.execute(select(pairs.c.role_key, *figures)
                                 .group_by(pairs.c.role_key).order_by(pairs.c.role_key))
    per_study = {study_id: row for study_id, *row in db.session.execute(
        select(pairs.c.study_id, *figures).where(pairs.c.study_id.is_not(None))
        .group_by(pairs.c.study_id))}
    by_study = [(study.code, *per_study[study.id]) for study in Study.pick_list()
                if study.id in per_study][:STUDIES_SHOWN]
    overdue = db.session.scalar(select(func.count()).select_from(TrainingAssignment).where(
        Record.state.in_(queries.open_states()), TrainingAssignment.due_date < today,
        scope_clause(user, MATRIX, Record.study_id, Record.site_id))) or 0
    return {"by_role": _figures(by_role), "by_study": _figures(by_study), "overdue": overdue}

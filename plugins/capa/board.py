"""The CAPA board: the CAPAs in the viewer's scope by stage (planning to effective), the most
urgent first in each column, with how many each stage holds; filtered by study."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_admin import BaseView, expose
from sqlalchemy import func, select

from core import Record, Study, current_user, db, scope_clause, states_in, utcnow
from plugins.capa.models import Capa

SHOWN = 25  # cards per column; the record list has the rest


class BoardView(BaseView):
    @expose("/")
    def index(self) -> Any:
        user = current_user._get_current_object()
        code = request.args.get("study", "").strip()[:40]
        study = Study.by_code(code) if code else None
        where = [Record.type == "capa_capa",
                 scope_clause(user, "capa.view", Record.study_id, Record.site_id)]
        problem = ""
        if code and study is None:
            problem = f"No study {code!r}: showing all studies."
        elif study is not None:
            where.append(Record.study_id == study.id)
        stages = states_in("capa_capa", "draft", "open")
        counts = dict(db.session.execute(
            select(Record.state, func.count()).select_from(Capa)
            .where(Record.state.in_(stages), *where).group_by(Record.state)).all())
        columns = []
        for stage in stages:
            cards = list(db.session.scalars(
                select(Capa).where(Record.state == stage, *where)
                .order_by(Capa.due_date.is_(None), Capa.due_date, Capa.id).limit(SHOWN)))
            columns.append({"state": stage, "count": counts.get(stage, 0), "cards": cards})
        studies = Study.pick_list()
        return self.render("capa/board.html", columns=columns, studies=studies, study=code,
                           problem=problem, today=utcnow().date(), shown=SHOWN)

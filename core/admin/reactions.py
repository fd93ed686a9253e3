"""System > Reactions: plugins' reactions not yet done (pending, failed) and the latest done,
with an audited "Retry now"."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, flash, redirect, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from core.admin.users import ReasonForm
from core.db import db
from core.reactions.models import DONE, Reaction
from core.reactions.service import retry
from core.records.models import Record

RECENT = 50


def _subjects(rows: list[Reaction]) -> dict[int, str]:
    """Reaction id -> the number of the record it is about ("" for a role change)."""
    wanted = {row.id: json.loads(row.payload).get("record_id") for row in rows}
    ids = {rid for rid in wanted.values() if rid is not None}
    numbers = dict(db.session.execute(select(Record.id, Record.number)
                                      .where(Record.id.in_(ids))).all()) if ids else {}
    return {rid: numbers.get(record_id, "") for rid, record_id in wanted.items()}


class ReactionsView(BaseView):
    @expose("/")
    def index(self) -> Any:
        open_rows = db.session.scalars(select(Reaction).where(Reaction.state != DONE)
                                       .order_by(Reaction.id)).all()
        done = db.session.scalars(select(Reaction).where(Reaction.state == DONE)
                                  .order_by(Reaction.id.desc()).limit(RECENT)).all()
        titles = {key: info.title for key, info in
                  current_app.extensions["cqms"].host.plugins.items()}
        return self.render("core/admin/reactions.html", open_rows=open_rows, done=done,
                           titles=titles, subjects=_subjects([*open_rows, *done]),
                           form=ReasonForm())

    @expose("/<int(max=2147483647):reaction_id>/retry", methods=["POST"])
    def retry_view(self, reaction_id: int) -> Any:
        form = ReasonForm()
        if not form.validate_on_submit():
            flash("A reason is required to retry a reaction.", "error")
            return redirect(url_for(".index"))
        reaction = db.session.get(Reaction, reaction_id)
        if reaction is None or reaction.state == DONE:
            flash("That reaction is not waiting to run.", "error")
            return redirect(url_for(".index"))
        if retry(reaction_id, current_user._get_current_object(), form.reason.data):
            flash(f"Reaction {reaction_id} ran.", "info")
        else:
            flash(f"Reaction {reaction_id} failed again: see its error below.", "error")
        return redirect(url_for(".index"))

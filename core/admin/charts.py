"""Dashboard charts: counts drawn as SVG on the server (pygal, no script), shown as images so
the page's CSP stays strict; the same SVG goes into PDFs. Each chart has a table twin for
screen readers and exact numbers."""

from __future__ import annotations

import base64
from typing import Any

import pygal
from flask import current_app
from pygal.style import Style
from sqlalchemy import func, select

from core.db import db
from core.permissions import has_permission, scope_clause
from core.records.models import Record
from core.records.service import read_clause
from core.specs import key_words
from core.tasks.models import Task
from core.tasks.service import TEAM_PERMISSION, tasks_for
from core.workflows.categories import category_clause, states_in

STYLE = Style(background="white", plot_background="white", foreground="#333",
              foreground_strong="#111", colors=("#2c6fad", "#c0392b", "#7f8c8d"),
              font_family="DejaVu Sans, sans-serif", label_font_size=11, value_font_size=10)


def bar_svg(labels: list[str], values: list[int], *, height: int | None = None) -> str:
    """A horizontal bar chart as an SVG document."""
    chart = pygal.HorizontalBar(js=[], disable_xml_declaration=True, show_legend=False,
                                width=420, height=height or max(120, 36 * len(labels) + 40),
                                style=STYLE, print_values=True, margin=8)
    chart.x_labels = labels
    top = max(values + [1])
    step = max(1, -(-top // 5))  # at most about five whole-number ticks
    chart.y_labels = list(range(0, top + step, step))
    chart.add("count", values)
    return chart.render(is_unicode=True)


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _readable_types(user: Any) -> list[Any]:
    """Record types of enabled plugins the user may read."""
    state = current_app.extensions["cqms"]
    types = []
    for rt in state.registry.record_types.values():
        owner = state.host.owner_of(rt.key)
        if (rt.view_permission and not (owner and not state.host.is_enabled(owner))
                and has_permission(user, rt.view_permission)):
            types.append(rt)
    return types


def _counts_by_state(rt: Any, user: Any, *conditions: Any) -> dict[str, int]:
    extra = read_clause(rt, user)
    # The type's own table only when its read filter needs its columns (a join per row).
    stmt = (select(Record.state, func.count())
            .select_from(rt.model if extra is not None else Record).where(
                Record.type == rt.key,
                scope_clause(user, rt.view_permission, Record.study_id, Record.site_id),
                *conditions)
            .group_by(Record.state))
    if extra is not None:
        stmt = stmt.where(extra)
    return dict(db.session.execute(stmt).all())


def records_by_state(user: Any) -> dict[str, Any]:
    """Records per type and state (in the workflow's order), in the user's scope, for types
    they may read."""
    rows: list[tuple[str, int]] = []
    for rt in _readable_types(user):
        counts = _counts_by_state(rt, user)
        rows += [(f"{rt.label}: {key_words(s).lower()}", counts[s]) for s in states_in(rt.key)
                 if s in counts]
    return _chart(rows)


def open_records_by_type(user: Any) -> dict[str, Any]:
    """Records in an open state (their workflow's ``open`` category) per type, in scope."""
    rows = []
    for rt in _readable_types(user):
        count = sum(_counts_by_state(rt, user, category_clause(rt.key, "open")).values())
        if count:
            rows.append((rt.label, count))
    return _chart(rows)


def overdue_tasks_by_kind(user: Any) -> dict[str, Any]:
    """The user's overdue tasks per kind (their team's too, where they may see it)."""
    team = has_permission(user, TEAM_PERMISSION)
    tasks = tasks_for(user, include_team=team).where(Task.overdue).subquery()
    stmt = select(tasks.c.kind, func.count()).group_by(tasks.c.kind).order_by(tasks.c.kind)
    return {**_chart([(k, n) for k, n in db.session.execute(stmt)]), "team": team}


def bar_chart(rows: list[tuple[str, int]]) -> dict[str, Any]:
    """``{"rows": rows, "chart": an SVG data URI}`` for a dashboard card: a horizontal bar per
    (label, count), drawn on the server (no script). Render it with the template
    ``core/widget_chart.html`` (``chart``, ``rows``, ``label``, ``alt``, ``empty``), which also
    lists the numbers as a table; ``chart`` is None when there are no rows."""
    return _chart(rows)


def _chart(rows: list[tuple[str, int]]) -> dict[str, Any]:
    if not rows:
        return {"rows": [], "chart": None}
    labels, values = [r[0] for r in rows], [r[1] for r in rows]
    return {"rows": rows, "chart": data_uri(bar_svg(labels, values))}

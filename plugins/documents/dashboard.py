"""The documents dashboard cards, in the reader's study/site scope and point-of-use view: work in
progress, documents by state (a chart with its table twin) and periodic reviews due and overdue.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pygal
from pygal.style import Style
from sqlalchemy import func, select

from core import Record, db, get_setting, scope_clause, states_in, utcnow
from plugins.documents import access, queries
from plugins.documents.models import Document, DocumentVersion

LISTED = 5  # documents named per periodic review line
STYLE = Style(background="white", plot_background="white", foreground="#333",
              foreground_strong="#111", colors=("#2c6fad",), font_family="DejaVu Sans, sans-serif",
              label_font_size=11, value_font_size=10)


def _visible(model: type, user: Any) -> list[Any]:
    """Conditions: in the user's scope and readable by them (ISO-04, ISO-05)."""
    read = access.document_read_filter(user) if model is Document \
        else access.version_read_filter(user)
    scope = scope_clause(user, "documents.view", Record.study_id, Record.site_id)
    return [scope] if read is None else [scope, read]


def _count(model: type, user: Any, *conditions: Any) -> int:
    stmt = select(func.count()).select_from(model).where(*_visible(model, user), *conditions)
    return db.session.scalar(stmt) or 0


def work_context(user: Any) -> dict[str, Any]:
    return {
        "in_review": _count(DocumentVersion, user, DocumentVersion.state == "in_review"),
        "approved": _count(DocumentVersion, user, DocumentVersion.state == "approved"),
    }


def _chart(rows: list[tuple[str, int]]) -> str:
    """A horizontal bar chart as an SVG data URI (no script: the page's CSP stays strict)."""
    chart = pygal.HorizontalBar(js=[], disable_xml_declaration=True, show_legend=False,
                                width=420, height=36 * len(rows) + 40, style=STYLE,
                                print_values=True, margin=8)
    chart.x_labels = [label for label, _ in rows]
    top = max([n for _, n in rows] + [1])
    step = max(1, -(-top // 5))
    chart.y_labels = list(range(0, top + step, step))
    chart.add("count", [n for _, n in rows])
    svg = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def states_context(user: Any) -> dict[str, Any]:
    counts = dict(db.session.execute(
        select(Record.state, func.count()).select_from(Document)
        .where(*_visible(Document, user)).group_by(Record.state)).all())
    rows = [(state.replace("_", " "), counts.get(state, 0))
            for state in states_in(queries.DOCUMENT_TYPE)]
    return {"rows": rows, "chart": _chart(rows) if any(n for _, n in rows) else None,
            "label": "State", "alt": "Bar chart of documents by state",
            "empty": "No documents yet."}


def _reviews(user: Any, *conditions: Any) -> tuple[int, list[Document]]:
    where = (*_visible(Document, user), Document.state == "effective", *conditions)
    count = db.session.scalar(select(func.count()).select_from(Document).where(*where)) or 0
    first = list(db.session.scalars(select(Document).where(*where).order_by(
        Document.next_review_date, Document.id).limit(LISTED)))
    return count, first


def reviews_context(user: Any) -> dict[str, Any]:
    """Effective documents whose periodic review is due within the reminder window, or past."""
    window = get_setting("documents.review_reminder_days")
    today = utcnow().date()
    due, due_first = _reviews(user, Document.next_review_date >= today,
                              Document.next_review_date <= today + timedelta(days=window))
    overdue, overdue_first = _reviews(user, Document.next_review_date < today)
    return {"window": window, "due": due, "due_first": due_first, "overdue": overdue,
            "overdue_first": overdue_first}

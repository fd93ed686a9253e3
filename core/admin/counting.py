"""List counts that stop at a cap: a page of a type with a million records must not count them.

Flask-Admin counts with a query it narrows by the same search and filters as the page's query,
then calls ``scalar()``. ``CappedCount`` stands in for that query: it passes every narrowing on
and, at ``scalar()``, counts at most ``cap + 1`` matching rows (an index range read that stops
early), so a count above ``cap`` means "more than ``cap``" and the list says so.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Query

LIST_COUNT_CAP = 10_000


class CappedCount:
    """A count query whose ``scalar()`` is at most ``cap + 1``."""

    def __init__(self, query: Query[Any], cap: int = LIST_COUNT_CAP):
        self.query, self.cap = query, cap

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.query, name)
        if not callable(attr):
            return attr

        def narrowed(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return CappedCount(result, self.cap) if isinstance(result, Query) else result

        return narrowed

    def scalar(self) -> int:
        matches = self.query.statement.with_only_columns(literal_column("1"),
                                                         maintain_column_froms=True)
        rows = matches.limit(self.cap + 1).subquery()
        return int(self.query.session.execute(select(func.count()).select_from(rows)).scalar() or 0)

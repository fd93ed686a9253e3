"""Admin list filters the core adds to every record type's list."""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.filters import BaseSQLAFilter

from core.due import overdue_clause
from core.records.models import Record
from core.retention import past_retention_ids
from core.specs import STATE_CATEGORIES, key_words
from core.workflows.categories import category_clause


class CategoryFilter(BaseSQLAFilter):
    """Records whose state is in a category (draft, open, closed, cancelled) of their type."""

    def __init__(self, record_type: str):
        super().__init__(Record.state, "Category",
                         options=[(c, c.capitalize()) for c in STATE_CATEGORIES])
        self.record_type = record_type

    def validate(self, value: Any) -> bool:
        return value in STATE_CATEGORIES

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(category_clause(self.record_type, value))

    def operation(self) -> str:
        return "is"


class StateFilter(BaseSQLAFilter):
    """Records in one state of their workflow, picked from the list of its states (in words)."""

    def __init__(self, states: tuple[str, ...]):
        super().__init__(Record.state, "State", options=[(s, key_words(s)) for s in states])
        self.states = states

    def validate(self, value: Any) -> bool:
        return value in self.states

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(Record.state == value)

    def operation(self) -> str:
        return "is"


class OverdueFilter(BaseSQLAFilter):
    """Open records of a type with a due date that are past it."""

    def __init__(self, record_type: Any):
        super().__init__(Record.state, "Overdue", options=[("yes", "Yes")])
        self.record_type = record_type

    def validate(self, value: Any) -> bool:
        return value == "yes"

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(overdue_clause(self.record_type))

    def operation(self) -> str:
        return "is"


class PastRetentionFilter(BaseSQLAFilter):
    """Records of a type whose declared retention period is over (ISO-09): for QA to decide
    on disposal through the type's signed step, where there is one. Nothing is deleted."""

    def __init__(self, record_type: Any):
        super().__init__(Record.state, "Past retention", options=[("yes", "Yes")])
        self.record_type = record_type

    def validate(self, value: Any) -> bool:
        return value == "yes"

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(Record.id.in_(past_retention_ids(self.record_type)))

    def operation(self) -> str:
        return "is"

"""State categories (draft, open, closed, cancelled) as the core and plugins ask for them: which
states of a workflow are open, what category a record is in, a SQL condition for lists."""

from __future__ import annotations

from typing import Any

from flask import current_app

from core.records.models import Record
from core.specs import STATE_CATEGORIES, Workflow


def workflow_named(key: str | Workflow) -> Workflow:
    """The workflow of a record type key, or the workflow with that key (or the object)."""
    if isinstance(key, Workflow):
        return key
    registry = current_app.extensions["cqms"].registry
    record_type = registry.record_types.get(key)
    workflow = registry.workflows.get(record_type.workflow if record_type else key)
    if workflow is None:
        raise LookupError(f"no record type or workflow {key!r}")
    return workflow


def states_in(record_type_or_workflow: str | Workflow, *categories: str) -> tuple[str, ...]:
    """The states of a record type's (or a workflow's) workflow in these categories, in the
    workflow's order; every state when no category is named.

    :param record_type_or_workflow: a record type key (``"training_assignment"``), a workflow
        key or a ``Workflow``.
    :param categories: any of ``draft``, ``open``, ``closed``, ``cancelled``.

    Example::

        live = states_in("training_assignment", "open", "closed")
        stmt = select(TrainingAssignment).where(Record.state.in_(live))
    """
    unknown = [c for c in categories if c not in STATE_CATEGORIES]
    if unknown:
        raise ValueError(f"unknown state category {unknown[0]!r} (one of "
                         f"{', '.join(STATE_CATEGORIES)})")
    return workflow_named(record_type_or_workflow).states_in(*categories)


def category_of(record: Record) -> str | None:
    """The category of the record's current state (None for a type the registry lacks)."""
    registry = current_app.extensions["cqms"].registry
    record_type = registry.record_types.get(record.type)
    if record_type is None:
        return None
    return registry.workflows[record_type.workflow].category_of(record.state)


def category_clause(record_type: str, *categories: str) -> Any:
    """A SQL condition: records of this type whose state is in these categories."""
    return Record.state.in_(states_in(record_type, *categories))

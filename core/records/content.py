"""Content hashes of records and the session guard that keeps records honest.

Before every flush: apply the declared rules (``core.records.rules``) to every row; for each
record: recompute ``content_hash`` over its controlled content;
refuse a state change made outside ``core.transition``; refuse a change to any field of a record
past draft (or in draft, where its type says so) without a reason; keep child records in their
parent's study and site; invalidate signatures whose signed content changed.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from core.audit.context import current_context
from core.errors import ValidationError, WorkflowError
from core.records import rules
from core.records.family import check_family
from core.records.models import Record

BASE_CONTENT = ("type", "number", "title", "study_id", "site_id", "attachments_digest")
# Written by the core on every change; a change to any other column past draft needs a reason.
BOOKKEEPING = frozenset({"version", "content_hash", "updated_at", "updated_by_id", "state"})
# The record a running transition may move, and the state it may move it to.
_in_transition: contextvars.ContextVar[tuple[Record, str] | None] = contextvars.ContextVar(
    "cqms_in_transition", default=None)


@contextmanager
def transition_scope(record: Record, target: str) -> Iterator[None]:
    """Let ``record`` (this object, nothing else) take state ``target`` in this block: an
    effect that moves another record calls ``transition()`` for it, with its own checks."""
    token = _in_transition.set((record, target))
    try:
        yield
    finally:
        _in_transition.reset(token)


def in_transition() -> bool:
    """Whether the code runs inside ``core.transition`` (its effects included)."""
    return _in_transition.get() is not None


def in_transition_of(record: Record) -> bool:
    """Whether the code runs inside a transition of this very record (its effects included)."""
    scope = _in_transition.get()
    return scope is not None and scope[0] is record


def _may_take_state(record: Record) -> bool:
    scope = _in_transition.get()
    return scope is not None and scope[0] is record and record.state == scope[1]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def content_fields(record: Record) -> tuple[str, ...]:
    record_type = _record_type(record)
    controlled = record_type.controlled_fields if record_type else ()
    return (*BASE_CONTENT, *controlled)


def content_of(record: Record) -> dict[str, Any]:
    return {name: _plain(getattr(record, name)) for name in content_fields(record)}


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"cqms.record.v1\x00" + canonical.encode()).hexdigest()


def _record_type(record: Record):  # type: ignore[no-untyped-def]
    return current_app.extensions["cqms"].registry.record_types.get(record.type)


def workflow_of(record: Record):  # type: ignore[no-untyped-def]
    return current_app.extensions["cqms"].registry.workflow_for(record.type)


def is_draft(record: Record, state: str | None = None) -> bool:
    workflow = workflow_of(record)
    if workflow is None:
        return False
    state = state or record.state
    return state == workflow.initial or state in workflow.draft_states


def change_needs_reason(record: Record, state: str | None = None) -> bool:
    """Past draft every change needs a reason; in draft, where the record type says so."""
    if not is_draft(record, state):
        return True
    record_type = _record_type(record)
    return bool(record_type and record_type.reason_in_draft)


def missing_reason_message(record: Record, state: str | None = None) -> str:
    if not is_draft(record, state):
        return f"{record.number} is past draft: a reason for the change is required."
    return f"Changes to a {_record_type(record).label} need a reason, in draft too."


# Called with (session, record) when a stored record's content hash changes within a flush;
# the signatures package registers the rule that signed content invalidates its signatures.
content_change_listeners: list[Callable[[Session, Record], None]] = []


def on_content_change(listener: Callable[[Session, Record], None]) -> None:
    if listener not in content_change_listeners:
        content_change_listeners.append(listener)


def _guard_records(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    for obj in list(session.deleted):
        rules.check_deleted(session, obj)
    for obj in list(session.new):
        rules.check_new(session, obj)
        if isinstance(obj, Record):
            workflow = workflow_of(obj)
            if workflow is not None and obj.state != workflow.initial and not in_transition():
                raise WorkflowError(f"a new {obj.type} starts in state {workflow.initial!r}")
            _apply_scalar_defaults(obj)
            check_family(session, obj, moved=False)
            obj.content_hash = content_hash(content_of(obj))
    for obj in list(session.dirty):
        if not session.is_modified(obj):
            continue
        rules.check_changed(session, obj)
        if not isinstance(obj, Record):
            continue
        state = inspect(obj)
        state_history = state.attrs.state.history
        if state_history.has_changes() and not _may_take_state(obj):
            raise WorkflowError(f"the state of {obj.number} changes only through a workflow "
                                "transition of that record")
        old_state = state_history.deleted[0] if state_history.deleted else obj.state
        if state.attrs.study_id.history.has_changes() or state.attrs.site_id.history.has_changes():
            check_family(session, obj, moved=True)
        # A transition explains its own changes (its reason rule and audit entry apply).
        if (not in_transition() and _changed_fields(state) and not current_context().reason.strip()
                and change_needs_reason(obj, old_state)):
            raise ValidationError({"reason": missing_reason_message(obj, old_state)})
        new_hash = content_hash(content_of(obj))
        if new_hash == obj.content_hash:
            continue
        obj.content_hash = new_hash
        for listener in content_change_listeners:
            listener(session, obj)


def _apply_scalar_defaults(record: Record) -> None:
    """Fill unset content fields with their column's scalar default now: the INSERT would apply
    it after the content hash is taken, and the stored row would no longer match its hash."""
    mapper = inspect(record).mapper
    for name in content_fields(record):
        if getattr(record, name) is not None:
            continue
        column = mapper.get_property(name).columns[0]
        default = column.default
        if default is not None and default.is_scalar:
            setattr(record, name, default.arg)


def _changed_fields(state: Any) -> list[str]:
    return [attr.key for attr in state.mapper.column_attrs
            if attr.key not in BOOKKEEPING and state.attrs[attr.key].history.has_changes()]


def changed_fields(obj: Any) -> list[str]:
    """The columns of ``obj`` changed and not yet flushed, the core's bookkeeping (version,
    content hash, state, updated at/by) aside: for plugins' flush guards.

    :param obj: a mapped object in the session (a record or any other model).
    """
    return _changed_fields(inspect(obj))


def state_before_change(record: Record) -> str:
    """The state ``record`` had before the change being flushed (its current one if unchanged).

    :param record: a record in the session.
    """
    history = inspect(record).attrs.state.history
    return history.deleted[0] if history.deleted else record.state


class ServiceScope:
    """A plugin's "my own services are writing" flag for its flush guard: ``with scope():``
    around the writes of server-owned fields, ``scope.active`` in the guard.

    :param name: a name for the flag (the plugin key).
    """

    def __init__(self, name: str):
        self._flag: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"cqms_service_{name}", default=False)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        token = self._flag.set(True)
        try:
            yield
        finally:
            self._flag.reset(token)

    @property
    def active(self) -> bool:
        return self._flag.get()


def install() -> None:
    if not event.contains(FlaskSession, "before_flush", _guard_records):
        event.listen(FlaskSession, "before_flush", _guard_records)


install()

"""Declared record and item rules, enforced before every flush below every path (admin, API,
plugin services, plain ORM writes): fixed fields, server fields, frozen states, rows never
deleted or never changed, and the ``validate_change`` hook for cross-field rules.

The declarations live on ``RecordType`` (records) and on a model's ``__rules__ = ItemRules(...)``
(other rows a plugin keeps, e.g. a version's named reviewers); see docs/plugin-author-guide.md.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core.audit.context import current_context
from core.errors import ConflictError, ValidationError
from core.plugins import CORE_KEY
from core.records.items import RecordItem
from core.records.models import Record
from core.specs import ItemRules

# Record types whose server fields the running code may set (see ``server_write``).
_server_write: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "cqms_server_write", default=frozenset())
# Bookkeeping the core writes itself; never a business change.
_CORE_WRITTEN = frozenset({"version", "content_hash", "updated_at", "updated_by_id", "state",
                           "attachments_digest"})


@contextmanager
def server_write(*type_keys: str) -> Iterator[None]:
    """Let the code in this block set the declared ``server_fields`` of records of these types
    (the declaring plugin's own services: assigning training, recording validation evidence).
    A transition's effects may always set those of the record in transition."""
    token = _server_write.set(_server_write.get() | frozenset(type_keys))
    try:
        yield
    finally:
        _server_write.reset(token)


def _registry():  # type: ignore[no-untyped-def]
    return current_app.extensions["cqms"].registry


def _changes(obj: Any, new: bool) -> dict[str, tuple[Any, Any]]:
    """Changed business columns of ``obj`` as ``{name: (old, new)}`` (old is None when new)."""
    state = inspect(obj)
    changes = {}
    for attr in state.mapper.column_attrs:
        if attr.key in _CORE_WRITTEN:
            continue
        history = state.attrs[attr.key].history
        if new:
            value = getattr(obj, attr.key)
            if value is not None:
                changes[attr.key] = (None, value)
        elif history.has_changes():
            old = history.deleted[0] if history.deleted else None
            changes[attr.key] = (old, getattr(obj, attr.key))
    return changes


def _state_before(record: Record) -> str:
    history = inspect(record).attrs.state.history
    return history.deleted[0] if history.deleted else record.state


def _may_write_server_fields(record: Record) -> bool:
    return record.type in _server_write.get() or _in_transition_of(record)


def _check_new_record(rt: Any, record: Record) -> None:
    given = [n for n in rt.server_fields if getattr(record, n) not in (None, "")]
    if given and not _may_write_server_fields(record):
        raise ValidationError({n: "Set by the server." for n in given})
    if rt.prepare_new is not None:
        with server_write(rt.key):
            rt.prepare_new(record)


def _check_changed_record(rt: Any, record: Record, changes: dict[str, Any]) -> None:
    fixed = [n for n in changes if n in rt.fixed_fields]
    if fixed:
        raise ValidationError({n: f"Fixed when the {rt.label.lower()} was created."
                               for n in fixed})
    owned = [n for n in changes if n in rt.server_fields]
    if owned and not _may_write_server_fields(record):
        raise ValidationError({n: "Set by the server." for n in owned})
    before = _state_before(record)
    content = [n for n in changes if n not in rt.server_fields]
    if inspect(record).attrs.attachments_digest.history.has_changes():
        content.append("file")
    if content and before in rt.frozen_states:
        raise ValidationError({content[0]: frozen_message(rt, record, before)})


def frozen_message(rt: Any, record: Record, state: str) -> str:
    hint = rt.frozen_hint or "it no longer changes"
    return f"{record.number} is {state.replace('_', ' ')}: {hint}."


def is_frozen(record: Record) -> bool:
    """Whether ``record`` is in one of its type's ``frozen_states`` (no field, link or
    attachment change)."""
    rt = _registry().record_types.get(record.type)
    return rt is not None and record.state in rt.frozen_states


def refuse_if_frozen(record: Record, field: str) -> None:
    """ValidationError naming ``field`` when ``record`` is frozen (a file, a link)."""
    if is_frozen(record):
        rt = _registry().record_types[record.type]
        raise ValidationError({field: frozen_message(rt, record, record.state)})


def _check_item(rules: ItemRules, obj: Any, new: bool, changes: dict[str, Any]) -> None:
    if new:
        return
    if rules.append_only and changes:
        raise ValidationError({next(iter(changes)): f"A {rules.label} is never changed."})
    fixed = [n for n in changes if n in rules.fixed_fields
             or (rules.changeable is not None and n not in rules.changeable)]
    if fixed:
        raise ValidationError({n: f"Fixed when the {rules.label} was created." for n in fixed})


def _acting_user(session: Session) -> Any:
    from core.users.models import User

    actor_id = current_context().actor_id
    if actor_id is None:
        return None
    with session.no_autoflush:
        return session.get(User, actor_id)


def _validate(obj: Any, changes: dict[str, Any], session: Session) -> None:
    host = current_app.extensions["cqms"].host
    answers = host.hook_for_enabled("validate_change")(
        record=obj, changes=changes, user=_acting_user(session))
    problems: dict[str, str] = {}
    for answer in answers:
        for problem in answer or ():
            field, message = problem if isinstance(problem, tuple) else ("record", problem)
            problems.setdefault(field, message)
    if problems:
        raise ValidationError(problems)


def _check_item_of_record(session: Session, item: Any, what: str) -> None:
    """A record's item belongs to a record of a type declaring it, is written by who may write
    that record, and changes only while the record is not frozen."""
    from core.records.content import in_transition
    from core.records.scope import require_write

    with session.no_autoflush:
        parent = session.get(Record, item.record_id) if item.record_id else None
    rt = _registry().record_types.get(parent.type) if parent is not None else None
    if rt is None or type(item) not in rt.items:
        raise ValidationError({"record_id": f"A {item.__item_label__} belongs to a record "
                                            "whose type lists it."})
    user = _acting_user(session)
    if user is not None and not user.is_service and not in_transition():
        require_write(rt, user, parent.study_id, parent.site_id)
    state = _state_before(parent)
    if state in rt.frozen_states and not _in_transition_of(parent):
        raise ValidationError({"record_id": f"{frozen_message(rt, parent, state)} ({what} "
                                            f"of a {item.__item_label__} refused)"})


def _in_transition_of(record: Record) -> bool:
    from core.records.content import in_transition_of

    return in_transition_of(record)


def check_new(session: Session, obj: Any) -> None:
    """Rules for a row being inserted (records: before their defaults and content hash)."""
    if isinstance(obj, RecordItem):
        _check_item_of_record(session, obj, "the addition")
    rt = _registry().record_types.get(obj.type) if isinstance(obj, Record) else None
    if rt is not None:
        _check_new_record(rt, obj)
    elif _rules_of(obj) is None and not _owned_by_plugin(obj):
        return
    with session.no_autoflush:
        _validate(obj, _changes(obj, new=True), session)


def check_changed(session: Session, obj: Any) -> None:
    """Rules for a row being updated."""
    changes = _changes(obj, new=False)
    if not changes and not isinstance(obj, Record):
        return
    if isinstance(obj, Record):
        rt = _registry().record_types.get(obj.type)
        if rt is not None:
            _check_changed_record(rt, obj, changes)
        if not changes:
            return
    else:
        if isinstance(obj, RecordItem):
            _check_item_of_record(session, obj, "a change")
        rules = _rules_of(obj)
        if rules is not None:
            _check_item(rules, obj, False, changes)
        elif not _owned_by_plugin(obj):
            return
    with session.no_autoflush:
        _validate(obj, changes, session)


def check_deleted(session: Session, obj: Any) -> None:
    if isinstance(obj, RecordItem):
        _check_item_of_record(session, obj, "the removal")
    if isinstance(obj, Record):
        raise ConflictError(f"{obj.number} is a record: records are never deleted "
                            "(retire or cancel them through their workflow).")
    rules = _rules_of(obj)
    if rules is not None and not rules.deletable:
        raise ValidationError({"id": f"A {rules.label} is never deleted."})


def _rules_of(obj: Any) -> ItemRules | None:
    rules = getattr(type(obj), "__rules__", None)
    return rules if isinstance(rules, ItemRules) else None


def _owned_by_plugin(obj: Any) -> bool:
    """Whether ``obj`` is a row of a model a plugin registered (its changes go to
    ``validate_change`` like records')."""
    owner = _registry().model_owner.get(type(obj))
    return owner is not None and owner != CORE_KEY

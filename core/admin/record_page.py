"""What a record page shows a person rather than a database: the header (state in words, next
step for this viewer), the business fields only, the actions this viewer can take now (or why
not), and the history as one line per event in business words. Internal fields (content hash,
digests, the record's internal version) live in the Integrity panel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import Boolean, select
from sqlalchemy.orm import Mapper

from core.audit.kinds import label_of, shown_value
from core.audit.models import AuditEntry
from core.db import db
from core.records.audit_query import record_conditions
from core.records.links import impact
from core.records.models import Record
from core.records.service import SERVER_OWNED, may_read
from core.second_person.views import verify_actions
from core.specs import RecordType, Transition
from core.specs import key_words as words
from core.users.models import User
from core.workflows.service import blockers, workflow_of

# Shown in the header or the Integrity panel, never among the business fields or in history.
SYSTEM = SERVER_OWNED | {"title", "owner_id", "study_id", "site_id"}
INTERNAL_ID = re.compile(r" \(#\d+\)$")
CATEGORY_STYLE = {"draft": "secondary", "open": "primary", "closed": "success",
                  "cancelled": "dark"}


def business_columns(record_type: RecordType) -> tuple[str, ...]:
    """The record page's field list: the type's own columns (a foreign key by its relation,
    shown by name) without the system columns."""
    mapper: Mapper[Any] = record_type.model.__mapper__
    by_fk = {col.key: name for name, rel in mapper.relationships.items()
             for col in rel.local_columns if rel.direction.name == "MANYTOONE"}
    shown: list[str] = []
    for attr in mapper.column_attrs:
        key = attr.key
        if key in SYSTEM or attr.columns[0].table is Record.__table__:
            continue
        shown.append(by_fk.get(key, key))
    return tuple(dict.fromkeys(shown))


@dataclass(frozen=True)
class ChildGroup:
    """Records of one type whose ``scope_parent`` is this record (a document's versions)."""

    label: str
    endpoint: str
    records: list[Record]


def child_groups(record: Record, user: Any) -> list[ChildGroup]:
    """Every record type declaring a parent column that points at ``record``'s type: the
    children ``user`` may read, oldest first."""
    state = current_app.extensions["cqms"]
    own_tables = {table.name for table in record.__mapper__.tables}
    groups = []
    for rt in state.registry.record_types.values():
        column = rt.model.__table__.c.get(rt.scope_parent) if rt.scope_parent else None
        if column is None or not {fk.column.table.name for fk in column.foreign_keys} & own_tables:
            continue
        rows = [child for child in db.session.scalars(
            select(rt.model).where(column == record.id).order_by(rt.model.id))
            if may_read(child, user)]
        if rows and rt.key in state.admin_endpoints:
            groups.append(ChildGroup(rt.label, rt.key, rows))
    return groups


def printed_name_of(user_id: int | None) -> str:
    user = db.session.get(User, user_id) if user_id is not None else None
    return user.printed_name if user is not None else "-"


def _record_number(_view: Any, _context: Any, model: Any, name: str) -> str:
    found = db.session.get(Record, getattr(model, name)) if getattr(model, name) else None
    return f"{found.number} {found.title}" if found is not None else ""


def _person(_view: Any, _context: Any, model: Any, name: str) -> str:
    return printed_name_of(getattr(model, name)) if getattr(model, name) else ""


def _yes_no(_view: Any, _context: Any, model: Any, name: str) -> str:
    value = getattr(model, name)
    return "" if value is None else ("Yes" if value else "No")


def detail_formatters(record_type: RecordType) -> dict[str, Any]:
    """How the business fields read: a record reference by number and title, a person by
    name, a yes/no as a word (never an internal id or True/False)."""
    found: dict[str, Any] = {}
    record_tables = {m.local_table.name for m in Record.__mapper__.self_and_descendants}
    for attr in record_type.model.__mapper__.column_attrs:
        column = attr.columns[0]
        targets = {fk.column.table.name for fk in column.foreign_keys}
        if targets & record_tables:
            found[attr.key] = _record_number
        elif "core_user" in targets:
            found[attr.key] = _person
        elif isinstance(column.type, Boolean):
            found[attr.key] = _yes_no
    return found


def choice_pairs(pairs: Any) -> list[tuple[str, str]]:
    """A declared pick list: (value, label) pairs, or a callable returning them."""
    return list(pairs() if callable(pairs) else pairs)


def _chosen(pairs: Any) -> Any:
    def shown(_view: Any, _context: Any, model: Any, name: str) -> str:
        value = getattr(model, name)
        return _labels_of(pairs).get(value, value)
    return shown


def _labels_of(pairs: Any) -> dict[Any, str]:
    """A pick list's labels by value, asked once per request (a list page has many rows)."""
    if not callable(pairs):
        return dict(pairs)
    cache = g.setdefault("cqms_pick_lists", {}) if has_request_context() else {}
    if id(pairs) not in cache:
        cache[id(pairs)] = dict(choice_pairs(pairs))
    return cache[id(pairs)]


def choice_formatters(record_type: RecordType) -> dict[str, Any]:
    """A field with a declared pick list reads as the label chosen, not its stored value."""
    return {name: _chosen(pairs) for name, pairs in record_type.choices.items()}


def detail_labels(record_type: RecordType) -> dict[str, str]:
    """Field names as words: ``supersedes_id`` -> "Supersedes" (not "Supersedes Id")."""
    return {name: words(name) for name in business_columns(record_type)}


def state_badge(record: Record) -> tuple[str, str]:
    """(the state in words, the badge style of its category)."""
    workflow = workflow_of(record)
    category = workflow.category_of(record.state) if workflow else None
    return words(record.state), CATEGORY_STYLE.get(category or "", "info")


def action_label(t: Transition) -> str:
    label = t.label or words(t.name)
    return f"{label} (e-signature)" if t.signature else label


@dataclass(frozen=True)
class Action:
    transition: Transition
    label: str
    blocked: list[str]


def actions_for(record: Record, user: Any, available: list[Transition]) -> list[Action]:
    """The transitions this viewer may take here, each with what still stands in its way."""
    return [Action(t, action_label(t), blockers(record, t, user)) for t in available]


def next_step(actions: list[Action]) -> str:
    ready = [a.label for a in actions if not a.blocked]
    if ready:
        return "You can: " + ", ".join(ready) + "."
    if actions:
        return "Waiting: " + " ".join(dict.fromkeys(r for a in actions for r in a.blocked))
    return "Nothing for you to do on this record now."


def page_actions(record: Record, user: Any) -> list[Any]:
    """The core's "Verify" buttons of critical data, then plugins' buttons for this record page
    (hook ``record_page_actions``)."""
    hook = current_app.extensions["cqms"].host.hook_for_enabled("record_page_actions")
    return [*verify_actions(record, user),
            *(action for actions in hook(record=record, user=user) for action in actions or ())]


def impact_groups(record: Record, user: Any) -> dict[str, Any]:
    """What a change to ``record`` touches, two links deep, grouped by record type label."""
    found, hidden = impact(record, user, depth=2)
    types = current_app.extensions["cqms"].registry.record_types
    groups: dict[str, list[Any]] = {}
    for item in found:
        rt = types.get(item.record.type)
        groups.setdefault(rt.label if rt else item.record.type, []).append(item)
    return {"groups": groups, "hidden": hidden}


def history_entries(record: Record, limit: int = 200) -> list[AuditEntry]:
    stmt = (select(AuditEntry).where(*record_conditions(record))
            .order_by(AuditEntry.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))


# -- history -------------------------------------------------------------------------------


@dataclass
class Event:
    """One thing that happened to the record: who, when, what (a sentence), the fields it set or
    changed (label, old, new), and why."""

    at: datetime
    actor: str
    action: str
    sentence: str
    reason: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)


def _same_event(event: Event, entry: AuditEntry) -> bool:
    return (entry.action in ("create", "update") and event.action == entry.action
            and event.actor == entry.actor_name and event.reason == (entry.reason or "")
            and abs((event.at - entry.at).total_seconds()) < 1)


def _sentence(entry: AuditEntry, number: str, workflow: Any) -> str:
    if entry.action == "create":
        return f"created {number}"
    if entry.action == "update":
        return f"changed {number}"
    if entry.action == "transition":
        step = workflow.transition(entry.field or "") if workflow is not None else None
        label = (step.label if step is not None and step.label else words(entry.field or ""))
        return (f"took the step \u201c{label}\u201d on {number}: "
                f"{words(entry.old_value or '')} \u2192 {words(entry.new_value or '')}")
    shown = shown_value(entry)
    label = label_of(entry.action)
    return f"{label.lower()} {number}" + (f": {shown}" if shown else "")


def _plain(value: str | None) -> str:
    """A value as people read it: a related row's label without its internal id."""
    return INTERNAL_ID.sub("", value or "")


ISO_MOMENT = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?\+00:00$")
BOOLEAN_WORDS = {"true": "Yes", "false": "No"}


class FieldWords:
    """A record's changed fields as its page reads them: declared labels, the label of a value
    picked from a list, yes/no, a UTC time to the minute."""

    def __init__(self, record: Record) -> None:
        rt = current_app.extensions["cqms"].registry.record_types.get(record.type)
        self.labels = dict(rt.labels) if rt is not None else {}
        self.choices = dict(rt.choices) if rt is not None else {}
        self.booleans = {a.key for a in record.__mapper__.column_attrs
                         if isinstance(a.columns[0].type, Boolean)}
        self._picked: dict[str, dict[Any, str]] = {}

    def label(self, name: str) -> str:
        return self.labels.get(name) or words(name)

    def value(self, name: str, value: str) -> str:
        if name in self.choices and value:
            if name not in self._picked:
                self._picked[name] = dict(choice_pairs(self.choices[name]))
            return self._picked[name].get(value, value)
        if name in self.booleans:
            return BOOLEAN_WORDS.get(value, value)
        moment = ISO_MOMENT.match(value or "")
        return f"{moment.group(1)} {moment.group(2)} UTC" if moment else value


def history_events(record: Record, entries: list[AuditEntry]) -> list[Event]:
    """``entries`` (newest first) folded into events: the field rows of one create or change
    become one event; system columns are left out (the raw rows keep them)."""
    events: list[Event] = []
    workflow = workflow_of(record)
    fields = FieldWords(record)
    for entry in entries:
        if events and _same_event(events[-1], entry):
            event = events[-1]
        else:
            event = Event(entry.at, entry.actor_name, entry.action,
                          _sentence(entry, record.number, workflow), entry.reason or "")
            events.append(event)
        event.entries.append(entry.id)
        if entry.action in ("create", "update") and entry.field not in SYSTEM | {"id"}:
            new = shown_value(entry)
            if entry.action == "create" and new in ("", None):
                continue
            name = entry.field or ""
            event.changes.append((fields.label(name),
                                  fields.value(name, _plain(entry.old_value)),
                                  fields.value(name, _plain(new))))
    for event in events:
        event.changes.reverse()  # the fields in the order they were written
        if event.action == "update" and not event.changes:
            event.sentence += " (its version and integrity fields only)"
    return events

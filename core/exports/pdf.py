"""The PDF rendering of a record (21 CFR 11.10(b) human-readable copy, 11.50 manifestations).

HTML and CSS from ``core/templates/core/exports/record.html`` rendered by WeasyPrint with a URL
fetcher that refuses everything but ``data:`` URIs: a stored value can never make the server
fetch a URL (the template escapes values, and this is the second line of defence).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from flask import current_app, render_template
from weasyprint.urls import URLFetcher

from core.attachments.service import attachments_of
from core.audit.models import AuditEntry
from core.config_versions import active_version
from core.db import utc_text, utcnow
from core.exports.history import change_counts, reconstruct_versions, record_entries, target_of
from core.exports.render import render_html
from core.phi import MASK, hidden_fields, note_phi_viewed, visible_entries
from core.records.access import readable_links
from core.records.items import items_of
from core.records.links import relation_label
from core.records.models import Record, RecordLink
from core.signatures.service import signatures_of

log = logging.getLogger("cqms.exports")
RECORD_COLUMNS = frozenset(Record.__table__.columns.keys())
ENTITY_NAMES = {"core_attachment": "attachment", "core_signature": "signature",
                "core_record_link": "link"}


class DataOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher, allowed ``data:`` URIs only; every other URL is refused and logged."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, timeout=1)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            self.refused.append(url)
            log.warning("PDF export: refused to fetch %s", url[:200])
            raise ValueError(f"external resources are not fetched: {url[:200]}")
        return super().fetch(url, headers)


@dataclass(frozen=True)
class FieldRow:
    label: str
    value: str
    changes: int


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    pages: int


def _humanise(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def column_text(record: Record, key: str) -> str:
    """A column's value for people: foreign keys by name (users by printed name), UTC times."""
    target = target_of(record, key)
    if target is None:
        return _text(getattr(record, key))
    if hasattr(target, "printed_name"):
        return str(target.printed_name)
    return target.audit_label() if hasattr(target, "audit_label") else str(target)


def _record_type(record: Record) -> Any:
    return current_app.extensions["cqms"].registry.record_types.get(record.type)


def field_rows(record: Record, changes: dict[str, int],
               hidden: frozenset[str] = frozenset()) -> list[FieldRow]:
    """The record type's schema fields when it declares a schema, otherwise the columns the
    type adds to ``core_record`` (the core's own columns are in the record table); the
    ``hidden`` ones (PHI the reader may not see) masked."""
    record_type = _record_type(record)
    if record_type is not None and record_type.schema is not None:
        schema = record_type.schema()
        dumped = schema.dump(record)
        rows = []
        for name, fld in schema.dump_fields.items():
            label = fld.metadata.get("label") or fld.metadata.get("title") or _humanise(name)
            value = _shown(_text(dumped.get(fld.data_key or name)), (fld.attribute or name) in hidden)
            rows.append(FieldRow(str(label), value, changes.get(fld.attribute or name, 0)))
        return rows
    return [FieldRow(_humanise(attr.key), _shown(column_text(record, attr.key), attr.key in hidden),
                     changes.get(attr.key, 0))
            for attr in record.__mapper__.column_attrs
            if attr.key != "id" and attr.columns[0].name not in RECORD_COLUMNS]


def _shown(text: str, hidden: bool) -> str:
    return MASK if hidden and text else text


def record_rows(record: Record, changes: dict[str, int]) -> list[FieldRow]:
    """The core's columns of every record, in reading order."""
    record_type = _record_type(record)
    rows = [("Number", record.number, "number"), ("Title", record.title, "title"),
            ("Type", record_type.label if record_type else record.type, "type"),
            ("State", record.state, "state"), ("Version", str(record.version), "version"),
            ("Owner", column_text(record, "owner_id"), "owner_id"),
            ("Study", column_text(record, "study_id"), "study_id"),
            ("Site", column_text(record, "site_id"), "site_id"),
            ("Created", f"{utc_text(record.created_at)} by {column_text(record, 'created_by_id')}",
             "created_at"),
            ("Last changed", f"{utc_text(record.updated_at)} by "
             f"{column_text(record, 'updated_by_id')}", "updated_by_id")]
    return [FieldRow(label, value, changes.get(key, 0) if key not in ("version", "type") else 0)
            for label, value, key in rows]


def _entity(record: Record, entry: AuditEntry) -> str:
    name = ENTITY_NAMES.get(entry.entity_type)
    return f"{name} #{entry.entity_id}" if name else "record"


def _link_row(record: Record, link: RecordLink) -> dict[str, str]:
    outgoing = link.source_id == record.id
    other = link.target if outgoing else link.source
    return {"direction": "this record →" if outgoing else "→ this record", "kind": link.kind,
            "relation": relation_label(link, record.id),
            "number": other.number, "title": other.title, "state": other.state,
            "at": utc_text(link.created_at)}


def record_context(record: Record, user: Any, printed_at: datetime | None = None,
                   certified: bool = False) -> dict[str, Any]:
    """Everything the PDF template shows about ``record``."""
    note_phi_viewed(record, user, "certified copy" if certified else "PDF")
    entries = visible_entries(record, record_entries(record, user), user)
    hidden = hidden_fields(record, user)
    changes = change_counts(record, entries)
    meanings = current_app.extensions["cqms"].registry.signature_meanings
    record_type = _record_type(record)
    return {
        "record": record,
        "type_label": record_type.label if record_type else record.type,
        "record_rows": record_rows(record, changes),
        "field_rows": field_rows(record, changes, hidden),
        "changes_total": sum(changes.values()),
        "versions": reconstruct_versions(record, entries),
        "signatures": [(s, meanings[s.meaning].label if s.meaning in meanings else s.meaning)
                       for s in signatures_of(record)],
        "links": [_link_row(record, link) for link in readable_links(record, user)],
        "items": items_of(record),
        "attachments": attachments_of(record),
        "history": [(e, _entity(record, e)) for e in entries],
        "printed_at": utc_text(printed_at or utcnow()),
        "printed_by": getattr(user, "printed_name", str(user)),
        "certified": certified,
        "config_version": active_version().label,
        "utc_text": utc_text,
    }


def render_record_pdf(record: Record, user: Any, printed_at: datetime | None = None,
                      certified: bool = False) -> RenderedPdf:
    """The PDF of ``record`` as printed by ``user`` now (bytes and page count); ``certified``
    marks it as part of a certified copy."""
    context = record_context(record, user, printed_at, certified)
    html = render_template("core/exports/record.html", **context)
    document = render_html(html)
    return RenderedPdf(document.write_pdf(), len(document.pages))

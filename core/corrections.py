"""Attributed corrections of closed, signed records (ICH E6(R3) 4.2.4, E6-18).

A closed record changes only through a declared correction: a transition with
``correction=True`` that needs a reason and re-opens the record into a correction state of its
workflow. Taking it writes a ``record.correction_opened`` audit entry on the version being
corrected: what the record held (its controlled content and content hash) and the signatures it
carried, by id, so the correction links to the originals. The changes made in the correction
state are ordinary audited changes with their reasons (their old values stay on the trail) and
invalidate the signatures on the content they change; the record closes again only through a
signed step (checked at start-up), so a correction is always approved again.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from core.audit.service import record_event
from core.errors import StartupError
from core.records.content import content_hash, content_of
from core.records.models import Record
from core.signatures.service import signatures_of
from core.specs import RecordType, Transition, Workflow

OPENED = "record.correction_opened"


def check_corrections(plugin: str, rt: RecordType, workflow: Workflow) -> None:
    """Start-up check of the correction transitions of ``rt``'s workflow: a reason, from closed
    states, into a state where the record may change, and out of it to a closed state only
    through a signed step (the re-approval)."""
    where = f"plugin {plugin!r}: record type {rt.key!r}"
    for t in (t for t in workflow.transitions if t.correction):
        step = f"{where}: correction {t.name!r}"
        if not t.reason_required or t.automatic:
            raise StartupError(f"{step} must require a reason (and be taken by a person)")
        if any(workflow.category_of(s) != "closed" for s in t.source):
            raise StartupError(f"{step} must start from closed states only")
        if workflow.category_of(t.target) != "open" or t.target in rt.frozen_states:
            raise StartupError(f"{step} must lead to an open state that is not frozen")
        closing = [x for x in workflow.transitions if t.target in x.source
                   and workflow.category_of(x.target) == "closed"]
        unsigned = [x.name for x in closing if not x.signature]
        if not closing or unsigned:
            raise StartupError(f"{step}: the record must close again through a signed step "
                               f"(unsigned: {unsigned or 'no closing step'})")


def _signature_words(record: Record) -> list[str]:
    meanings = current_app.extensions["cqms"].registry.signature_meanings
    return [f"{meanings[s.meaning].label if s.meaning in meanings else s.meaning} by "
            f"{s.printed_name} ({s.username}) on version {s.record_version}, "
            f"{s.signed_at:%Y-%m-%d %H:%M} UTC, signature #{s.id}"
            + ("" if s.invalidated_at is None else " (already invalidated)")
            for s in signatures_of(record)]


def open_correction(record: Record, t: Transition, user: Any) -> int:
    """Write the correction entry of ``record`` before ``t`` re-opens it: the version, content
    and signatures being corrected. Called by ``core.transition`` (the reason is the
    transition's); returns the entry's sequence number."""
    content = content_of(record)
    original = {
        "version": record.version,
        "state": record.state,
        "content_hash": content_hash(content),
        "content": content,
        "signatures": [{"id": s.id, "meaning": s.meaning, "signer": s.username,
                        "record_version": s.record_version, "content_hash": s.content_hash,
                        "valid": s.invalidated_at is None} for s in signatures_of(record)],
    }
    signed = _signature_words(record)
    shown = f"version {record.version}, " + (f"signed: {'; '.join(signed)}" if signed
                                              else "unsigned")
    return record_event(OPENED, record.audit_entity_type, record.id, field=t.name,
                        old=json.dumps(original, sort_keys=True, ensure_ascii=False),
                        new=shown, actor=user, entity_version=record.version)

"""One record checked end to end, from its page ("Verify this record"): its history entries in
their chains, its content against its content hash, its signatures against what was signed,
its files against their SHA-256. The whole trail is ``cqms audit verify``'s job; this answers
an inspector's "is this record intact?" in a second, and the check itself is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.attachments.service import AttachmentIntegrityError, attachments_of, open_attachment
from core.audit.models import AuditEntry
from core.audit.service import record_event
from core.audit.verify import check_entries
from core.db import db
from core.records.audit_query import record_conditions
from core.records.content import content_hash, content_of
from core.records.models import Record
from core.signatures.service import mac_valid, signatures_of

MAX_SHOWN = 20


def check_record(record: Record) -> list[str]:
    """What is wrong with ``record``, in words; empty when every check holds."""
    ids = list(db.session.scalars(select(AuditEntry.id).where(*record_conditions(record))
                                  .order_by(AuditEntry.id)))
    problems = check_entries(db.session.connection(), ids)
    if not ids:
        problems.append("The record has no history entries.")
    if record.content_hash != content_hash(content_of(record)):
        problems.append("The record's content does not match its content hash (changed "
                        "outside the application).")
    for signature in signatures_of(record):
        if not mac_valid(signature):
            problems.append(f"The signature of {signature.printed_name} of "
                            f"{signature.signed_at:%Y-%m-%d %H:%M} UTC does not match what "
                            "was signed.")
    for attachment in attachments_of(record):
        try:
            open_attachment(attachment).close()
        except AttachmentIntegrityError as exc:
            problems.append(f"{exc}.")
    return problems


def verify_record(record: Record, user: Any) -> list[str]:
    """``check_record``, written to the record's history as a ``record.verified`` entry."""
    problems = check_record(record)
    summary = (f"{len(problems)} problem(s): " + " ".join(problems[:MAX_SHOWN]) if problems
               else "intact: history entries, content, signatures and files all check")
    record_event("record.verified", record.audit_entity_type, record.id, new=summary[:4000],
                 actor=user, entity_version=record.version)
    return problems

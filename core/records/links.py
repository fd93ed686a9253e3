"""Typed links between records: declared kinds (``LinkKind``), linking and unlinking with a
reason (a link ends, it is never deleted), lookups both ways, and the impact graph."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from core.audit.context import acting_as, audit_reason
from core.db import db, utcnow
from core.errors import ConflictError, ValidationError
from core.records.content import in_transition
from core.records.family import children_of, parent_id
from core.records.models import Record, RecordLink
from core.records.rules import refuse_if_frozen
from core.records.scope import require_write
from core.records.service import may_read, record_type
from core.specs import LinkKind
from core.users.models import User

IMPACT_MAX_DEPTH = 4
IMPACT_MAX_RECORDS = 500


def link_kinds() -> dict[str, LinkKind]:
    return current_app.extensions["cqms"].registry.link_kinds


def link_kind(key: str) -> LinkKind:
    """The declared kind ``key`` (ValidationError naming ``kind`` otherwise)."""
    kind = link_kinds().get(key)
    if kind is None:
        known = ", ".join(sorted(link_kinds())) or "none"
        raise ValidationError({"kind": f"Unknown kind of link {key!r} (declared kinds: {known})."})
    return kind


def kinds_from(record: Record) -> list[LinkKind]:
    """The kinds a link from ``record`` may take (for forms)."""
    return [k for k in link_kinds().values()
            if not k.source_types or record.type in k.source_types]


def _type_label(key: str) -> str:
    rt = current_app.extensions["cqms"].registry.record_types.get(key)
    return rt.label.lower() if rt is not None else key


def _check_kind(kind: LinkKind, source: Record, target: Record) -> None:
    if kind.source_types and source.type not in kind.source_types:
        allowed = " or ".join(_type_label(t) for t in kind.source_types)
        raise ConflictError(f"{source.number} cannot be the source of a '{kind.label}' link: "
                            f"only a {allowed} can.")
    if kind.target_types and target.type not in kind.target_types:
        allowed = " or ".join(_type_label(t) for t in kind.target_types)
        raise ConflictError(f"{source.number} cannot be linked as '{kind.label}' to "
                            f"{target.number}: the target must be a {allowed}.")
    if kind.cardinality == "one":
        other = db.session.scalar(select(RecordLink).where(
            RecordLink.source_id == source.id, RecordLink.kind == kind.key,
            RecordLink.ended_at.is_(None)))
        if other is not None:
            raise ConflictError(f"{source.number} already {kind.label} {other.target.number}: "
                                "a record has one such link (unlink it first).")


def link_records(source: Record, target: Record, kind: str, user: User, *,
                 reason: str = "") -> RecordLink:
    """Link ``source`` to ``target`` as ``kind`` (a declared ``LinkKind``): ``user`` writes
    ``source`` in its scope and may read ``target`` (a transition's effects and the system
    principal excepted). Flushes; the caller commits."""
    require_write(record_type(source.type), user, source.study_id, source.site_id)
    if not (user.is_service or in_transition() or may_read(target, user)):
        raise ValidationError({"target": f"No record numbered {target.number!r} that you may "
                                         "see."})
    if source.id == target.id:
        raise ValidationError({"target": "A record cannot be linked to itself."})
    declared = link_kind(kind)
    if not in_transition():
        refuse_if_frozen(source, "target")
    existing = db.session.scalar(select(RecordLink).where(
        RecordLink.source_id == source.id, RecordLink.target_id == target.id,
        RecordLink.kind == kind, RecordLink.ended_at.is_(None)))
    if existing is not None:
        raise ConflictError(f"{source.number} is already linked to {target.number} "
                            f"({declared.label}).")
    _check_kind(declared, source, target)
    host = current_app.extensions["cqms"].host
    reasons = [text for answer in host.hook_for_enabled("validate_link")(
        source=source, target=target, kind=kind, user=user) for text in (answer or [])]
    if reasons:
        raise ConflictError(f"{source.number} cannot be linked to {target.number} "
                            f"({declared.label}): " + "; ".join(reasons))
    with acting_as(user), audit_reason(reason or f"Linked: {declared.label}"):
        link = RecordLink(source_id=source.id, target_id=target.id, kind=kind,
                          created_by_id=user.id)
        db.session.add(link)
        db.session.flush()
    return link


def unlink(link: RecordLink, user: User, *, reason: str) -> RecordLink:
    """End ``link`` (kept, with when, by whom and why; audited). Needs a reason and the right to
    write its source, which must not be frozen. Flushes; the caller commits."""
    source = link.source
    require_write(record_type(source.type), user, source.study_id, source.site_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the link ends."})
    if len(reason) > 2000:
        raise ValidationError({"reason": "At most 2000 characters."})
    if link.ended_at is not None:
        raise ConflictError(f"The link from {source.number} to {link.target.number} has already "
                            "ended.")
    if not in_transition():
        refuse_if_frozen(source, "link")
    with acting_as(user), audit_reason(reason):
        link.ended_at, link.ended_by_id, link.end_reason = utcnow(), user.id, reason
        db.session.flush()
    return link


def links_of(record: Record, *, include_ended: bool = False) -> list[RecordLink]:
    """Live links of ``record`` in both directions (ended ones too when asked)."""
    stmt = select(RecordLink).where(
        or_(RecordLink.source_id == record.id, RecordLink.target_id == record.id))
    if not include_ended:
        stmt = stmt.where(RecordLink.ended_at.is_(None))
    return list(db.session.scalars(stmt.order_by(RecordLink.id)))


def linked(record: Record, kind: str, *, direction: str = "both") -> list[Record]:
    """Records live-linked to ``record`` as ``kind``: ``"out"`` (record is the source),
    ``"in"`` (record is the target) or ``"both"``."""
    found = []
    for link in links_of(record):
        if link.kind != kind:
            continue
        if link.source_id == record.id and direction in ("out", "both"):
            found.append(link.target)
        elif link.target_id == record.id and direction in ("in", "both"):
            found.append(link.source)
    return found


def relation_label(link: RecordLink, from_record_id: int) -> str:
    """How the other end relates, read from ``from_record_id``'s side ("governed by")."""
    kind = link_kinds().get(link.kind)
    if kind is None:  # a link made before kinds were declared
        return link.kind.replace("_", " ")
    return kind.label if link.source_id == from_record_id else kind.inverse_label


@dataclass
class Impacted:
    record: Record
    depth: int
    via: str  # "SOP-0003 governs" ...


def impact(record: Record, user: Any, depth: int = 2) -> tuple[list[Impacted], int]:
    """Records reachable from ``record`` over live links (both ways) and parent/child ties up to
    ``depth`` steps, that
    ``user`` may read, nearest first; and how many reachable records they may not read."""
    if not 1 <= depth <= IMPACT_MAX_DEPTH:
        raise ValidationError({"depth": f"Between 1 and {IMPACT_MAX_DEPTH}."})
    seen, hidden = {record.id}, 0
    found: list[Impacted] = []
    queue = deque([(record, 0)])
    while queue and len(found) < IMPACT_MAX_RECORDS:
        current, level = queue.popleft()
        if level == depth:
            continue
        for other, relation in _neighbours(current):
            if other.id in seen:
                continue
            seen.add(other.id)
            if not may_read(other, user):
                hidden += 1
                continue
            found.append(Impacted(other, level + 1, f"{current.number} {relation}"))
            queue.append((other, level + 1))
    return found, hidden


def _neighbours(record: Record) -> list[tuple[Record, str]]:
    """Records one step away: over live links, and parent and children (a document and its
    versions, through ``scope_parent``)."""
    found = [(link.target if link.source_id == record.id else link.source,
              relation_label(link, record.id)) for link in links_of(record)]
    parent = parent_id(record)
    if parent is not None:
        owner = db.session.get(Record, parent)
        if owner is not None:
            found.append((owner, "belongs to"))
    found += [(child, "has") for child in children_of(record)]
    return found

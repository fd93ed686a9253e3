"""Adding, reading and verifying attachments: the services plugins call, and the reconciler."""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO

from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.attachments import blobs, objects, sniff, storage
from core.attachments.models import Attachment
from core.audit.context import acting_as, audit_reason
from core.audit.service import record_event
from core.audit.verify import Finding
from core.db import db
from core.errors import ConflictError, CQMSError, ValidationError
from core.permissions import has_permission
from core.records.content import change_needs_reason, missing_reason_message
from core.records.models import Record
from core.records.rules import refuse_if_frozen
from core.records.scope import require_write
from core.records.service import may_read, record_type
from core.users.models import User

AUDIT_VIEW = "core.audit.view"


class AttachmentIntegrityError(CQMSError):
    """A stored file is missing or no longer matches its recorded SHA-256."""


def add_attachment(record: Record, user: User, filename: str | None, stream: Any,
                   declared_type: str | None = None, reason: str = "") -> Attachment:
    """Store the file read from ``stream`` (a binary file object, or bytes) on ``record`` as
    ``user``. Flushes; the caller commits (a rollback removes the stored file again).

    Refuses, writing nothing, with ``ValidationError`` naming ``file``: an empty or too large
    file, a media type not recognised from the content or not in ``ATTACHMENT_TYPES``, and a
    file name extension or ``declared_type`` that contradicts the content. Past the draft states
    a ``reason`` is required (``ValidationError`` naming ``reason``). ``user`` needs the record
    type's permission in the record's study/site (``PermissionDenied``).
    """
    if record.id is None:
        raise ValidationError({"record": "Save the record before attaching files."})
    require_write(record_type(record.type), user, record.study_id, record.site_id)
    refuse_if_frozen(record, "file")
    name = sniff.clean_filename(filename)
    if not name:
        raise ValidationError({"file": "The file has no usable name."})
    reason = (reason or "").strip()
    number = record.number  # a failed flush expires the record: name it without reloading
    if not reason and change_needs_reason(record):
        raise ValidationError({"reason": missing_reason_message(record)})
    if isinstance(stream, bytes | bytearray):
        stream = io.BytesIO(stream)
    received = storage.receive(stream, current_app.config["ATTACHMENT_MAX_BYTES"])
    try:
        media_type = _checked_type(received, name, declared_type)
        attachment = Attachment(
            record_id=record.id, filename=name, media_type=media_type, size=received.size,
            sha256=received.sha256, storage_name=storage.new_storage_name(),
            uploaded_by_id=user.id, record_version=record.version + 1,
        )
        with acting_as(user), audit_reason(reason or "Attachment added"):
            db.session.add(attachment)
            db.session.flush()
            # The record's content now includes the file: new version, signatures invalidated.
            record.attachments_digest = chain_digest(record.attachments_digest, attachment.id,
                                                     attachment.sha256)
            record.updated_by_id = user.id
            try:
                db.session.flush()
            except StaleDataError:
                raise ConflictError(f"{number} was changed by someone else; reload it") from None
            _keep(received, attachment.storage_name)
            record_event(
                "attachment.added", record.audit_entity_type, record.id, field="attachment",
                new=f"{name} (#{attachment.id}, {media_type}, {received.size} bytes, "
                    f"sha256 {received.sha256})",
                actor=user, entity_version=record.version,
            )
    finally:
        storage.discard(received.path)  # a no-op once placed
    return attachment


def _keep(received: storage.Received, storage_name: str) -> None:
    """Store the file where ``ATTACHMENT_STORAGE`` says, tied to the open transaction."""
    kind, session = current_app.config["ATTACHMENT_STORAGE"], db.session()
    if kind == "database":
        blobs.store(session.connection(), received, storage_name)
    elif kind == "s3":
        storage.track(session, lambda: objects.remove(storage_name))
        objects.put(received, storage_name)
    else:
        path = storage.path_of(storage_name)
        storage.track(session, lambda: storage.discard(path))
        storage.place(received, storage_name)


def chain_digest(previous: str, attachment_id: int, sha256: str) -> str:
    """The record's attachments digest after adding one file to ``previous``."""
    link = f"{previous}\x00{attachment_id}\x00{sha256}".encode()
    return hashlib.sha256(b"cqms.attachments.v1\x00" + link).hexdigest()


def _checked_type(received: storage.Received, name: str, declared_type: str | None) -> str:
    if received.size == 0:
        raise ValidationError({"file": "The file is empty."})
    media_type = sniff.detect(received.path, name)
    allowed = current_app.config["ATTACHMENT_TYPES"]
    if media_type is None or media_type not in allowed:
        kinds = ", ".join(sorted(ext for t in allowed for ext in sniff.EXTENSIONS[t]))
        raise ValidationError({"file": f"This kind of file is not accepted (accepted: {kinds})."})
    if sniff.extension(name) not in sniff.EXTENSIONS[media_type]:
        raise ValidationError({"file": f"The file name does not match its content ({media_type}"
                               f"): name it {' or '.join(sniff.EXTENSIONS[media_type])}."})
    if not sniff.declared_matches(declared_type, media_type):
        raise ValidationError({"file": f"The file was sent as {declared_type} but its content "
                               f"is {media_type}."})
    return media_type


def attachments_of(record: Record) -> list[Attachment]:
    """The record's attachments, oldest first (every upload, none ever replaced)."""
    stmt = select(Attachment).where(Attachment.record_id == record.id).order_by(Attachment.id)
    return list(db.session.scalars(stmt))


def open_attachment(attachment: Attachment) -> BinaryIO:
    """The stored file, open for binary reading at its start, after checking its size and
    SHA-256 against the row; raises ``AttachmentIntegrityError`` if it is missing or altered.
    The caller closes it."""
    where = f"attachment {attachment.id} ({attachment.filename}) of record {attachment.record_id}"
    try:
        fh = blobs.open_stored(db.session.connection(), attachment.storage_name)
    except (OSError, ValueError):
        raise AttachmentIntegrityError(f"{where}: the stored file is missing") from None
    try:
        size, sha256 = storage.hash_file(fh)
        if (size, sha256) != (attachment.size, attachment.sha256):
            raise AttachmentIntegrityError(f"{where}: the stored file was altered (SHA-256 "
                                           "does not match)")
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    return fh


def may_download(user: Any, attachment: Attachment) -> bool:
    """Whoever may read the record (its type's view permission in its study/site, and its
    read filter) or holds ``core.audit.view`` there; owning or creating it grants nothing."""
    record = attachment.record
    return may_read(record, user) or has_permission(user, AUDIT_VIEW, study=record.study,
                                                     site=record.site)


# -- immutability and verification -------------------------------------------------------------


def _refuse_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, Attachment) and session.is_modified(obj):
            raise ConflictError("attachments are immutable: add a new file instead")
    for obj in session.deleted:
        if isinstance(obj, Attachment):
            raise ConflictError("attachments are never deleted")


def verify_attachments(connection, report) -> None:  # type: ignore[no-untyped-def]
    """Reconciler for ``cqms audit verify``: every attachment's file exists with its recorded
    size and SHA-256, and each record's attachments digest is that of its attachment rows (none
    added or removed in SQL). Whether a row still holds the values audited at upload is
    ``core.audit.reconcile``'s check, as for every audited table."""
    table, records = Attachment.__table__, Record.__table__
    rows = connection.execute(
        select(table, records.c.number.label("record_number"))
        .join(records, records.c.id == table.c.record_id, isouter=True)
        .order_by(table.c.id)
    ).mappings()
    digests: dict[int, str] = {}
    for row in rows:
        digests[row["record_id"]] = chain_digest(digests.get(row["record_id"], ""), row["id"],
                                                 row["sha256"])
        entity = (f"core_attachment {row['id']} (record {row['record_id']} "
                  f"{row['record_number'] or '?'}, {row['filename']})")
        try:
            with blobs.open_stored(connection, row["storage_name"]) as fh:
                size, sha256 = storage.hash_file(fh)
        except (OSError, ValueError):
            report.add(Finding(None, entity, "the stored file is missing"))
            continue
        if (size, sha256) != (row["size"], row["sha256"]):
            report.add(Finding(None, entity, "the stored file was altered or replaced (SHA-256 "
                               "does not match)"))
    for record_id, number, digest in connection.execute(
            select(records.c.id, records.c.number, records.c.attachments_digest)
            .order_by(records.c.id)):
        if digests.get(record_id, "") != digest:
            report.add(Finding(None, f"core_record {record_id} ({number})", "its attachments "
                               "are not those it was given (a file row added, removed or "
                               "edited outside the application)"))


def install() -> None:
    if not event.contains(FlaskSession, "before_flush", _refuse_changes):
        event.listen(FlaskSession, "before_flush", _refuse_changes)


install()

"""Certified copies (21 CFR 11.10(b), Annex 11 §8): one zip per record that can be checked offline.

Members: ``record.json`` (current values, change indicators), ``versions.json`` (every version
rebuilt from the audit trail), ``audit-trail.json`` (the record's entries with their chain
hashes), ``signatures.json`` (manifestations and MACs), ``links.json``, ``attachments.json`` and
the files under ``attachments/``, ``record.pdf`` and ``README.txt``; ``manifest.json`` lists the
size and SHA-256 of each, ``SHA256SUMS`` repeats them for ``sha256sum -c``, and ``manifest.mac``
is an HMAC of the manifest with the integrity key (kept outside the database).

Nothing is bundled from data that fails a check: an attachment whose file no longer matches its
SHA-256, an audit entry whose hash is broken, a record whose content does not match its hash
or its audit trail, or a signature whose MAC does not match refuses the copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from core.attachments.service import AttachmentIntegrityError, attachments_of, chain_digest, open_attachment
from core.audit.chain import app_hasher, hash_kind
from core.config_versions import active_version
from core.db import utcnow
from core.errors import CQMSError
from core.exports.history import (
    audit_text,
    change_counts,
    entry_dict,
    reconstruct_versions,
    record_entries,
    utc_iso,
)
from core.exports.pdf import render_record_pdf
from core.integrity import integrity_key, key_id, mac
from core.phi import refuse_masked_copy
from core.records.access import readable_links
from core.records.content import content_hash, content_of
from core.records.items import items_of
from core.records.models import Record
from core.signatures.service import mac_valid, signatures_of

FORMAT = "cqms-certified-copy/1"
MAC_PURPOSE = "certified-copy"
MANIFEST, SUMS, MAC_FILE = "manifest.json", "SHA256SUMS", "manifest.mac"
CHUNK = 64 * 1024


class CertifiedCopyRefused(CQMSError):
    """The record's data failed an integrity check: no copy is certified from it."""


@dataclass(frozen=True)
class CertifiedCopy:
    data: bytes
    filename: str
    files: int
    sha256: str


def safe_name(text: str, limit: int = 80) -> str:
    """A file name made of letters, digits, ``.``, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:limit] or "file"


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _check(record: Record, entries: list[Any], versions: list[Any], signatures: list[Any],
           attachments: list[Any]) -> None:
    """Refuse to certify data that fails any integrity check."""
    hasher = app_hasher()
    for entry in entries:
        if hash_kind(hasher, entry_dict(entry)) is None:
            raise CertifiedCopyRefused(f"{record.number}: audit entry {entry.id} does not match "
                                       "its hash (edited in the database); run `cqms audit verify`")
    if content_hash(content_of(record)) != record.content_hash:
        raise CertifiedCopyRefused(f"{record.number}: the record's content does not match its "
                                   "hash (edited in the database); run `cqms audit verify`")
    if versions and versions[-1].values.get("content_hash") != record.content_hash:
        raise CertifiedCopyRefused(f"{record.number}: the record differs from its audit trail "
                                   "(edited in the database); run `cqms audit verify`")
    digest = ""
    for attachment in attachments:
        digest = chain_digest(digest, attachment.id, attachment.sha256)
    if digest != record.attachments_digest:
        raise CertifiedCopyRefused(f"{record.number}: its attachment rows are not those it was "
                                   "given (added or removed in the database)")
    for sig in signatures:
        if not mac_valid(sig):
            raise CertifiedCopyRefused(f"{record.number}: signature {sig.id} ({sig.printed_name}, "
                                       f"{sig.meaning}) fails its MAC check (altered or copied)")


def _record_json(record: Record, entries: list[Any], user: Any, now: datetime) -> dict[str, Any]:
    record_type = current_app.extensions["cqms"].registry.record_types.get(record.type)
    changes = change_counts(record, entries)
    return {
        "format": FORMAT,
        "record": {"id": record.id, "type": record.type,
                   "type_label": record_type.label if record_type else record.type,
                   "number": record.number, "title": record.title, "state": record.state,
                   "version": record.version, "content_hash": record.content_hash},
        "fields": {attr.key: audit_text(record, attr.key)
                   for attr in record.__mapper__.column_attrs},
        "changed_since_original_entry": {"changed": bool(changes),
                                         "changes": sum(changes.values()),
                                         "fields": dict(sorted(changes.items()))},
        "exported_at": utc_iso(now),
        "exported_by": getattr(user, "printed_name", str(user)),
        "configuration_version": _config_version(),
        "times": "UTC, ISO 8601",
    }


def _config_version() -> dict[str, Any]:
    """The configuration in force when the copy was made (P11-13, A11-10)."""
    active = active_version()
    return {"number": active.number, "digest": active.digest, "label": active.label}


def _signature_json(sig: Any, meanings: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": sig.id, "record_id": sig.record_id, "record_version": sig.record_version,
        "content_hash": sig.content_hash, "signer_id": sig.signer_id, "username": sig.username,
        "printed_name": sig.printed_name, "meaning": sig.meaning,
        "meaning_label": meanings[sig.meaning].label if sig.meaning in meanings else sig.meaning,
        "transition": sig.transition, "signed_at": utc_iso(sig.signed_at), "method": sig.method,
        "comment": sig.comment, "mac": sig.mac, "valid": sig.valid,
        "invalidated_at": utc_iso(sig.invalidated_at) if sig.invalidated_at else None,
        "invalidated_reason": sig.invalidated_reason, "manifestation": sig.manifestation,
        "on_behalf_of_id": sig.on_behalf_of_id, "on_behalf_of_name": sig.on_behalf_of_name,
    }


def _link_json(record: Record, link: Any) -> dict[str, Any]:
    return {"id": link.id, "direction": "outgoing" if link.source_id == record.id else "incoming",
            "kind": link.kind, "created_at": utc_iso(link.created_at),
            "source": {"id": link.source_id, "number": link.source.number,
                       "title": link.source.title},
            "target": {"id": link.target_id, "number": link.target.number,
                       "title": link.target.title}}


def _readme(record: Record, who: str, now: datetime, zip_name: str) -> bytes:
    return f"""Certified copy of {record.number} "{record.title}", version {record.version}, \
state {record.state}.
Made {utc_iso(now)} by {who} with CQMS, {active_version().label}. Times are UTC (ISO 8601).

record.json         the record's current fields and whether each changed since its original entry
versions.json       every version, rebuilt from the audit trail (original entry + each change)
audit-trail.json    the record's audit entries (and those of its files, signatures and links),
                    each with its chain, prev_hash and hash: hash = HMAC-SHA256(the deployment's
                    integrity key, "audit-entry" NUL prev_hash NUL canonical JSON of the entry);
                    trails from before the key: SHA-256("cqms.audit.v1" NUL prev_hash NUL ...)
signatures.json     electronic signatures: printed name, UTC time, meaning, signed version, MAC
links.json          links to and from other records
items.json          rows the record owns (checklist answers, action lines...)
attachments.json    the attached files (name, type, size, SHA-256); the files are in attachments/
record.pdf          the human-readable rendering
manifest.json       size and SHA-256 of every file above; SHA256SUMS lists the same
manifest.mac        HMAC-SHA256 of manifest.json with the organisation's integrity key

Check it: `cqms verify-bundle {zip_name} --key <integrity key file>` (exit 0: intact).
Without CQMS: unzip, then `sha256sum -c SHA256SUMS` checks the files against the manifest;
only the key holder can check manifest.mac, which proves the manifest itself is unaltered.
""".encode()


class _Writer:
    """Adds members to the zip, remembering each one's size and SHA-256."""

    def __init__(self, archive: zipfile.ZipFile, stamp: tuple[int, ...]):
        self.archive, self.stamp = archive, stamp
        self.files: list[dict[str, Any]] = []

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.stamp)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    def add(self, name: str, data: bytes, listed: bool = True) -> None:
        self.archive.writestr(self._info(name), data)
        if listed:
            self.files.append({"name": name, "size": len(data),
                               "sha256": hashlib.sha256(data).hexdigest()})

    def add_stream(self, name: str, stream: Any) -> None:
        digest, size = hashlib.sha256(), 0
        with self.archive.open(self._info(name), "w") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.files.append({"name": name, "size": size, "sha256": digest.hexdigest()})


def build_certified_copy(record: Record, user: Any, now: datetime | None = None) -> CertifiedCopy:
    """The certified-copy zip of ``record`` made by ``user``; raises ``CertifiedCopyRefused``
    when any of its data fails an integrity check."""
    now = now or utcnow()
    entries = record_entries(record, user)
    refuse_masked_copy(record, entries, user)
    versions = reconstruct_versions(record, entries)
    signatures = signatures_of(record)
    attachments = attachments_of(record)
    _check(record, entries, versions, signatures, attachments)
    meanings = current_app.extensions["cqms"].registry.signature_meanings
    who = getattr(user, "printed_name", str(user))
    zip_name = f"{safe_name(record.number)}-v{record.version}-certified-copy.zip"
    attachment_rows = [{"id": a.id, "filename": a.filename, "media_type": a.media_type,
                        "size": a.size, "sha256": a.sha256, "record_version": a.record_version,
                        "uploaded_at": utc_iso(a.uploaded_at),
                        "uploaded_by": a.uploaded_by.printed_name if a.uploaded_by else None,
                        "member": f"attachments/{a.id}-{safe_name(a.filename)}"}
                       for a in attachments]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        writer = _Writer(archive, now.timetuple()[:6])
        writer.add("README.txt", _readme(record, who, now, zip_name))
        writer.add("record.json", _json(_record_json(record, entries, user, now)))
        writer.add("versions.json", _json([v.as_json() for v in versions]))
        writer.add("audit-trail.json", _json([entry_dict(e) for e in entries]))
        writer.add("signatures.json", _json([_signature_json(s, meanings) for s in signatures]))
        writer.add("links.json", _json([_link_json(record, link)
                                        for link in readable_links(record, user)]))
        writer.add("attachments.json", _json(attachment_rows))
        writer.add("items.json", _json([
            {"kind": model.__item_label__, "table": model.__tablename__,
             "rows": [{"id": row.id, "created_at": utc_iso(row.created_at),
                       **{name: _plain_value(getattr(row, name))
                          for name, _heading in model.__item_columns__}} for row in rows]}
            for model, rows in items_of(record)]))
        for attachment, row in zip(attachments, attachment_rows, strict=True):
            try:
                with open_attachment(attachment) as stream:
                    writer.add_stream(row["member"], stream)
            except AttachmentIntegrityError as exc:
                raise CertifiedCopyRefused(f"{record.number}: {exc}; no copy was made") from None
        writer.add("record.pdf", render_record_pdf(record, user, now, certified=True).data)
        manifest = _json({
            "format": FORMAT,
            "record": {"id": record.id, "number": record.number, "type": record.type,
                       "title": record.title, "state": record.state, "version": record.version,
                       "content_hash": record.content_hash},
            "created_at": utc_iso(now), "created_by": who,
            "configuration_version": _config_version(),
            "audit_entries": len(entries),
            "mac": {"algorithm": "HMAC-SHA256", "purpose": MAC_PURPOSE,
                    "key_id": key_id(integrity_key())},
            "files": sorted(writer.files, key=lambda f: f["name"]),
        })
        writer.add(MANIFEST, manifest, listed=False)
        sums = [(f["sha256"], f["name"]) for f in writer.files]
        sums.append((hashlib.sha256(manifest).hexdigest(), MANIFEST))
        writer.add(SUMS, "".join(f"{h}  {n}\n" for h, n in sorted(sums, key=lambda s: s[1])
                                 ).encode(), listed=False)
        writer.add(MAC_FILE, (mac(MAC_PURPOSE, manifest) + "\n").encode(), listed=False)
    data = buffer.getvalue()
    return CertifiedCopy(data, zip_name, len(writer.files), hashlib.sha256(data).hexdigest())

"""The catalogue of audit event kinds the core writes. Plugins add theirs by declaration
(``register_audit_event_kinds``); ``record_event`` refuses a kind nobody declared."""

from __future__ import annotations

import json
from typing import Any

from core.specs import AuditEventKind, key_words, task_kind_words

K = AuditEventKind
CORE_KINDS = (
    K("create", "Created", "field: a column; new: its value (one entry per column)"),
    K("update", "Changed", "field: a column; old and new: its values (one entry per changed "
      "business column)"),
    K("delete", "Removed", "field: a column; old: its last value"),
    K("transition", "Workflow step", "field: the transition; old and new: the states"),
    K("signature.applied", "Signed", "new: the signature (meaning, signer, printed name, "
      "record version, content hash, time, method, comment, on behalf of, MAC) as JSON"),
    K("signature.invalidated", "Signature invalidated", "new: the signature id, time and "
      "reason as JSON"),
    K("signature.failed", "Signature refused (wrong password, or another user's name)",
      "the signer's account; field username, new: the name given instead of their own"),
    K("signature.attested", "Signature attestation signed", "new: the attestation text"),
    K("attachment.added", "File attached", "new: name, id, media type, size and SHA-256"),
    K("export", "Exported", "field: the kind of export; new: what was exported"),
    K("audit.verified", "Audit trail checked", "new: the result of the whole trail's check"),
    K("record.field_verified", "Verified by a second person", "field: the critical field; new: "
      "its value as verified; entity version: the record version the verifier saw"),
    K("record.correction_opened", "Re-opened for correction", "field: the correction step; "
      "old: the version, content, content hash and signatures corrected (JSON); new: in words"),
    K("record.phi_viewed", "Protected health information shown", "field: where (record page, "
      "API, PDF, certified copy); new: the fields shown unmasked"),
    K("record.verified", "Integrity checked", "new: the result of the record's check (its "
      "history entries, content, signatures and files)"),
    K("login.succeeded", "Signed in", "the account"),
    K("login.failed", "Sign-in refused", "field: cause or username"),
    K("logout", "Signed out", "the account"),
    K("account.locked", "Account locked", "the account; the reason: failed attempts"),
    K("user.unlocked", "Account unlocked", "the account"),
    K("totp.enrolled", "Authenticator enrolled", "the account"),
    K("totp.reverified", "Authenticator re-verified", "the account (periodic device test)"),
    K("api_token.revoked", "API token revoked", "the token"),
    K("task.opened", "Task opened", "field: the task kind; new: who it is for"),
    K("task.done", "Task done", "field: the task kind; old: who it was for"),
    K("task.cancelled", "Task cancelled", "field: the task kind; old: who it was for"),
    K("notification.queued", "Notification queued", "the notification"),
    K("notification.sent", "Notification sent", "the notification"),
    K("notification.failed", "Notification failed", "the notification; new: the error"),
    K("reaction.retried", "Reaction retried", "field: the hook; new: the plugin; the reason"),
)


def label_of(kind: str) -> str:
    """A kind's label in the running app's catalogue (the key itself when unknown)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return kind
    found = current_app.extensions["cqms"].registry.audit_event_kinds.get(kind)
    return found.label if found is not None else kind


def shown_value(entry: Any) -> str:
    """An entry's new value as a person reads it: a signature event as its manifestation
    ("Approved by Avery Approver (approver), record version 4, 2026-12-05 07:49:53 UTC"), not
    the JSON it carries for verification (the certified copy and the API keep the JSON)."""
    value = entry.new_value
    if entry.action == "create" and entry.field == "type" and value:
        return _record_type_label(value)
    if entry.entity_type == "core_task" and entry.field == "kind" and value:
        return task_kind_words(value)
    if entry.entity_type == "core_record_link" and entry.field == "kind" and value:
        return _link_kind_label(value)
    if entry.action not in ("signature.applied", "signature.invalidated") or not value:
        return "" if value is None else value
    try:
        carried = json.loads(value)
    except ValueError:
        return value
    if not isinstance(carried, dict):
        return value
    if entry.action == "signature.invalidated":
        return f"Signature #{carried.get('id')} invalidated: {carried.get('invalidated_reason')}"
    meaning = _meaning_label(str(carried.get("meaning", "")))
    when = str(carried.get("signed_at", ""))[:19].replace("T", " ")
    by = meaning if meaning.lower().endswith(" by") else f"{meaning} by"  # "Approved by"
    text = (f"{by} {carried.get('printed_name')} ({carried.get('username')}), record "
            f"version {carried.get('record_version')}, {when} UTC")
    comment = carried.get("comment")
    return f"{text}; comment: {comment}" if comment else text


def field_label(entry: Any) -> str:
    """The entry's field as people read it: a task event's field is the task's kind."""
    if not entry.field:
        return ""
    if entry.action.startswith("task."):
        return task_kind_words(entry.field)
    return key_words(entry.field)


def _record_type_label(key: str) -> str:
    from flask import current_app, has_app_context

    if not has_app_context():
        return key
    found = current_app.extensions["cqms"].registry.record_types.get(key)
    return found.label if found is not None else key


def _link_kind_label(key: str) -> str:
    from flask import current_app, has_app_context

    if has_app_context():
        kind = current_app.extensions["cqms"].registry.link_kinds.get(key)
        if kind is not None:
            return kind.label
    return key


def _meaning_label(key: str) -> str:
    from flask import current_app, has_app_context

    if has_app_context():
        meaning = current_app.extensions["cqms"].registry.signature_meanings.get(key)
        if meaning is not None:
            return meaning.label
    return key

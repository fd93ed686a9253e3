"""Signing: re-authenticate, check the attestation, bind to content, MAC, audit.

Every signature needs the password re-entered (and a TOTP code for enrolled users); a wrong one
counts towards lockout. The first signature of a sign-in session (and every API signature) also
needs the user name (``core.signatures.sessions``). The signer is always the authenticated user
passed in by the caller; a user name naming anyone else is refused and counted. A delegate signs
a step of an absent person's with their own signature "on behalf of" them
(``core.delegations``), never with the absent person's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app, has_request_context
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core import rate_limits
from core.audit.context import acting_as
from core.audit.service import record_event
from core.audit.verify import Finding
from core.db import db, utcnow
from core.delegations.service import absent_person_for, take_over_task
from core.errors import AuthenticationFailed, PermissionDenied, ValidationError
from core.integrity import mac
from core.records.content import BASE_CONTENT, content_fields, on_content_change
from core.records.models import Record
from core.signatures.models import (
    ATTESTATION_TEXT,
    PURPOSE,
    Signature,
    SignatureAttestation,
    mac_matches,
    signature_messages,
)
from core.signatures.sessions import continuous, mark_signed
from core.users.auth import register_failure, verify_totp
from core.users.models import User
from core.users.passwords import verify_password


@dataclass(frozen=True)
class SignatureRequest:
    """What the signer typed: the password (always), the user name (the first signature of a
    session and every API signature), a TOTP code if enrolled, a meaning, and the username of
    the absent person a delegate signs for."""

    password: str
    meaning: str | None = None
    totp: str | None = None
    comment: str = ""
    username: str | None = None
    on_behalf_of: str | None = None


def mac_valid(sig: Signature) -> bool:
    """Whether the signature's MAC matches its fields (not altered, not copied elsewhere)."""
    return mac_matches(sig, sig.mac)


def has_attested(user: User) -> bool:
    return db.session.scalar(
        select(SignatureAttestation.id).where(SignatureAttestation.user_id == user.id)
    ) is not None


def attest(user: User, password: str) -> SignatureAttestation:
    """Record the user's attestation (password re-entered) before their first signature."""
    _reauthenticate(user, SignatureRequest(password=password))
    if has_attested(user):
        raise ValidationError({"attestation": "You have already signed the attestation."})
    row = SignatureAttestation(user_id=user.id, text=ATTESTATION_TEXT)
    with acting_as(user):
        db.session.add(row)
        db.session.flush()
    record_event("signature.attested", "core_user", user.id, actor=user, new=ATTESTATION_TEXT)
    return row


def _reauthenticate(user: User, request: SignatureRequest) -> None:
    if not user.is_active or user.is_locked:
        raise AuthenticationFailed("Your account cannot sign (inactive or locked).")
    rate_limits.check("signing", f"user:{user.id}")
    ok = verify_password(user.password_hash, request.password or "")
    if ok and user.totp_enabled_at is not None:
        ok = verify_totp(user, request.totp)
    if not ok:
        _count_failure(user)
        raise AuthenticationFailed("Signature refused: the password (or code) is not correct.")
    user.failed_logins = 0  # lockout counts consecutive failures, as at sign-in


def _check_user_name(user: User, request: SignatureRequest) -> None:
    """The user name is the signer's own; it may be left out only in a continuous session
    (code running outside any request, e.g. the demo loader, names its signer itself)."""
    given = (request.username or "").strip()
    if given:
        if given.lower() != user.username.lower():  # as at sign-in, case does not matter
            _count_failure(user, named=given[:64])
            raise AuthenticationFailed("Signature refused: you can sign only as yourself "
                                       "(the user name is not yours).")
        return
    if has_request_context() and not continuous(user):
        raise ValidationError({"username": "Enter your user name: the first signature after "
                                           "you sign in needs your user name and password."})


def _count_failure(user: User, named: str | None = None) -> None:
    """A wrong password (or another person's user name) at signing counts towards lockout in
    its own short transaction: the work of the request so far is rolled back first, never
    committed with it."""
    user_id = user.id
    db.session.rollback()
    user = db.session.get(User, user_id)
    with acting_as(user):
        register_failure(user, "signature")
        if named is None:
            record_event("signature.failed", "core_user", user.id, actor=user)
        else:
            record_event("signature.failed", "core_user", user.id, actor=user, field="username",
                         new=f"signed in as {user.username}, gave the user name {named}")
    db.session.commit()


def sign(record: Record, user: User, request: SignatureRequest, *, meaning: str,
         transition: str = "") -> Signature:
    """Write a signature of ``user`` on the current version and content of ``record``."""
    meanings = current_app.extensions["cqms"].registry.signature_meanings
    if meaning not in meanings:
        raise ValidationError({"meaning": f"Unknown signature meaning {meaning!r}."})
    if request.meaning and request.meaning != meaning:
        raise ValidationError({"meaning": f"This step is signed with the meaning {meaning!r}."})
    if user.identity_verified_at is None:
        raise PermissionDenied("Your identity has not been verified by an administrator yet: "
                               "ask one to verify it before you sign.")
    absent = (absent_person_for(record, user, request.on_behalf_of, transition)
              if request.on_behalf_of else None)
    _check_user_name(user, request)
    _reauthenticate(user, request)
    if not has_attested(user):
        raise PermissionDenied("Before your first signature, sign the attestation that your "
                               "electronic signature binds you like a handwritten one.")
    db.session.flush()  # the record's content hash and version are final before binding
    sig = Signature(
        record_id=record.id, record_version=record.version, content_hash=record.content_hash,
        signer_id=user.id, username=user.username, printed_name=user.full_name, meaning=meaning,
        transition=transition, signed_at=utcnow(), method="password+totp"
        if user.totp_enabled_at else "password", comment=request.comment or "", mac="",
        on_behalf_of_id=absent.id if absent else None,
        on_behalf_of_name=absent.printed_name if absent else None,
    )
    sig.mac = mac(PURPOSE, signature_messages(sig)[0])
    with acting_as(user):
        db.session.add(sig)
        db.session.flush()  # audited as one signature.applied event on the record
    if absent is not None:
        take_over_task(record, absent, transition, user)
    mark_signed(user)
    return sig


def signatures_of(record: Record, *, valid_only: bool = False) -> list[Signature]:
    stmt = select(Signature).where(Signature.record_id == record.id).order_by(Signature.id)
    if valid_only:
        stmt = stmt.where(Signature.invalidated_at.is_(None))
    return list(db.session.scalars(stmt))


def _vouched_for(record: Record) -> dict[str, frozenset[str]]:
    """Transition name -> the controlled fields its signature covers, for transitions that
    name them (``Transition.signs``)."""
    workflow = current_app.extensions["cqms"].registry.workflow_for(record.type)
    return {t.name: frozenset(t.signs) for t in (workflow.transitions if workflow else ())
            if t.signs}


_ANY_VALID = select(Signature.id).where(Signature.record_id == bindparam("record_id"),
                                        Signature.invalidated_at.is_(None)).limit(1)


def invalidate_signatures(session: Session, record: Record) -> None:
    """Signed content changed: mark the record's valid signatures invalidated (kept, shown),
    except those of transitions signing only fields this change left alone."""
    if record.id is None:
        return
    # Most edits touch unsigned records: a bare existence query is a fraction of an ORM load.
    if session.connection().execute(_ANY_VALID, {"record_id": record.id}).first() is None:
        return
    state = inspect(record)
    changed = {name for name in content_fields(record)
               if state.attrs[name].history.has_changes()}
    scoped = _vouched_for(record)
    with session.no_autoflush:
        for sig in session.scalars(select(Signature).where(
                Signature.record_id == record.id, Signature.invalidated_at.is_(None))):
            covered = scoped.get(sig.transition)
            if covered is not None and not changed & (covered | set(BASE_CONTENT)):
                continue
            sig.invalidated_at = utcnow()
            sig.invalidated_reason = "signed content changed"


on_content_change(invalidate_signatures)


def verify_signatures(connection: Connection, report) -> None:  # type: ignore[no-untyped-def]
    """Reconciler for ``cqms audit verify``: every signature's MAC matches its row."""
    rows: Iterable = connection.execute(select(Signature.__table__).order_by(Signature.id))
    for row in rows.mappings():
        sig = Signature(**{k: row[k] for k in row.keys()})
        if not mac_matches(sig, row["mac"]):
            report.add(Finding(None, f"core_signature {row['id']}", "signature MAC does not "
                               "match (altered, or copied to another record or version)"))

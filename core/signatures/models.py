"""Signatures and the signers' attestations that an e-signature binds like a handwritten one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, Text, and_, or_, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from core.audit.models import AuditEntry
from core.db import Base, UTCDateTime, utcnow
from core.integrity import mac_ok
from core.records.models import Record

PURPOSE = "signature"

ATTESTATION_TEXT = (
    "I certify that my electronic signature in this system is the legally binding equivalent of "
    "my traditional handwritten signature (21 CFR 11.100(c))."
)


class Signature(Base):
    """One signing act: who, what meaning, when, on which record version and content, with a MAC
    over all of it (key outside the database) so a copied or altered row is found."""

    __tablename__ = "core_signature"
    __audit__ = True
    # One event on the signed record per signing act and per invalidation, carrying the row.
    __audit_events__ = {"create": "signature.applied", "update": "signature.invalidated"}
    __audit_event_field__ = "signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), index=True)
    record_version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    signer_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(40))
    transition: Mapped[str] = mapped_column(String(60), default="")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(40), default="password")
    comment: Mapped[str] = mapped_column(Text, default="")
    mac: Mapped[str] = mapped_column(String(64))
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidated_reason: Mapped[str | None] = mapped_column(String(200))
    # A delegate's signature for an absent person (P11-23): still the delegate's own signature.
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    on_behalf_of_name: Mapped[str | None] = mapped_column(String(200))

    record = relationship("Record", lazy="joined")

    @property
    def valid(self) -> bool:
        """Not invalidated, and intact (a signature altered or revived in SQL is not valid)."""
        return self.invalidated_at is None and self.intact

    @property
    def intact(self) -> bool:
        """Its MAC matches its fields, and the audit trail never saw it invalidated (setting
        ``invalidated_at`` back to NULL in SQL does not revive it)."""
        if not mac_matches(self, self.mac):
            return False
        session = object_session(self)
        if session is None or self.id is None:
            return True
        per_field = and_(  # entries written before signatures were audited as events
            AuditEntry.entity_type == self.__tablename__, AuditEntry.entity_id == str(self.id),
            AuditEntry.field == "invalidated_at", AuditEntry.new_value.is_not(None))
        as_event = and_(
            AuditEntry.action == "signature.invalidated",
            AuditEntry.entity_id == str(self.record_id),
            AuditEntry.new_value.contains(f'"id": "{self.id}"', autoescape=True))
        return session.scalar(select(AuditEntry.id).where(or_(per_field, as_event)).limit(1)
                              ) is None

    def audit_event_target(self) -> tuple[str, int, int]:
        """The signed record's entity, id and current version: where the events go."""
        session = object_session(self)
        record = session.get(Record, self.record_id) if session is not None else None
        if record is None:
            return "core_record", self.record_id, self.record_version
        return record.audit_entity_type, self.record_id, record.version

    @property
    def meaning_label(self) -> str:
        """The label the deployment gives the meaning ("Approved"), else its key."""
        meaning = current_app.extensions["cqms"].registry.signature_meanings.get(self.meaning)
        return meaning.label if meaning is not None else self.meaning

    @property
    def manifestation(self) -> str:
        """Printed name, date and time with zone, and meaning (21 CFR 11.50)."""
        when = self.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.printed_name}, {when}, {self.meaning}{self.on_behalf_text}"

    @property
    def on_behalf_text(self) -> str:
        """", on behalf of <printed name>" for a delegate's signature, else empty."""
        return f", on behalf of {self.on_behalf_of_name}" if self.on_behalf_of_name else ""

    def audit_label(self) -> str:
        return f"{self.meaning} by {self.username}{self.on_behalf_text}"


def signature_messages(sig: Any) -> tuple[bytes, ...]:
    """The bytes a signature's MAC covers: every field set at signing, the comment included
    (``v2``), and the narrower message of signatures made before the comment was covered. A
    delegate's signature covers the absent person too (``v3``, its only message: "on behalf
    of" can be neither added to nor removed from a signature without breaking its MAC)."""
    parts = (sig.record_id, sig.record_version, sig.content_hash, sig.signer_id, sig.username,
             sig.printed_name, sig.meaning, sig.transition,
             sig.signed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), sig.method)
    legacy = "\x00".join(str(p) for p in parts).encode()
    v2 = b"v2\x00" + legacy + b"\x00" + str(sig.comment or "").encode()
    behalf_id = getattr(sig, "on_behalf_of_id", None)
    behalf_name = getattr(sig, "on_behalf_of_name", None)
    if behalf_id is None and not behalf_name:
        return v2, legacy
    return (b"v3\x00" + v2 + b"\x00" + f"{behalf_id}\x00{behalf_name or ''}".encode(),)


def mac_matches(sig: Any, stated: str, check: Any = None) -> bool:
    """Whether ``stated`` is the MAC of ``sig``'s fields (``check(message, stated)`` defaults
    to this deployment's key)."""
    check = check or (lambda message, mac: mac_ok(PURPOSE, message, mac))
    return any(check(message, stated) for message in signature_messages(sig))


class SignatureAttestation(Base):
    """A user's signed statement, before their first signature, that it binds them (P11-12)."""

    __tablename__ = "core_signature_attestation"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

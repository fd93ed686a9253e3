"""Signatures and the signers' attestations that an e-signature binds like a handwritten one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

ATTESTATION_TEXT = (
    "I certify that my electronic signature in this system is the legally binding equivalent of "
    "my traditional handwritten signature (21 CFR 11.100(c))."
)


class Signature(Base):
    """One signing act: who, what meaning, when, on which record version and content, with a MAC
    over all of it (key outside the database) so a copied or altered row is found."""

    __tablename__ = "core_signature"
    __audit__ = True

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

    record = relationship("Record", lazy="joined")

    @property
    def valid(self) -> bool:
        return self.invalidated_at is None

    @property
    def manifestation(self) -> str:
        """Printed name, date and time with zone, and meaning (21 CFR 11.50)."""
        when = self.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.printed_name}, {when}, {self.meaning}"

    def audit_label(self) -> str:
        return f"{self.meaning} by {self.username}"


class SignatureAttestation(Base):
    """A user's signed statement, before their first signature, that it binds them (P11-12)."""

    __tablename__ = "core_signature_attestation"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Document types (reference data), controlled documents and their versions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import Base, ItemRules, Record, UTCDateTime, utcnow

# The type whose documents are of external origin (source, external version and date required).
EXTERNAL_TYPE = "EXTERNAL"


class DocumentType(Base):
    """A kind of document (SOP, WI, FORM, ...): its number prefix and control defaults."""

    __tablename__ = "documents_type"
    __audit__ = True
    __audit_ignore__ = frozenset({"last_number"})  # a counter; the documents it numbers are audited

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    number_prefix: Mapped[str] = mapped_column(String(12), unique=True)
    review_interval_months: Mapped[int] = mapped_column(Integer, default=24)
    training_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # The role whose holders may approve versions of this type; empty: any approver.
    approver_role: Mapped[str] = mapped_column(String(64), default="")
    # Months an obsolete document of this type is kept before it may be disposed of (ISO-08).
    retain_obsolete_for_months: Mapped[int] = mapped_column(Integer, default=120)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Last number handed out with this prefix (gapless: incremented in the creating transaction).
    last_number: Mapped[int] = mapped_column(Integer, default=0)

    def audit_label(self) -> str:
        return self.code

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class Document(Record):
    """The controlled item (``SOP-0001``): its versions carry the content and the signatures."""

    __tablename__ = "documents_document"
    __mapper_args__ = {"polymorphic_identity": "documents_document"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    # Fixed at creation (the number carries its prefix); empty: a general document ("DOC").
    document_type_id: Mapped[int | None] = mapped_column(ForeignKey("documents_type.id"),
                                                         index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    next_review_date: Mapped[date | None] = mapped_column(Date)
    # Documents of external origin (type EXTERNAL, ISO-05): who issued it, their version, date.
    source: Mapped[str] = mapped_column(String(200), default="")
    external_version: Mapped[str] = mapped_column(String(40), default="")
    external_date: Mapped[date | None] = mapped_column(Date)
    # Comma-separated role keys whose holders may read it (empty: everyone with documents.view).
    distribution_roles: Mapped[str] = mapped_column(String(500), default="")

    # For the admin form's choice (the core maps it back to ``document_type_id``).
    document_type = relationship(DocumentType)


class DocumentVersion(Record):
    """One version (``SOP-0001-v1.0``) of a document: files, change details, signatures."""

    __tablename__ = "documents_version"
    __mapper_args__ = {"polymorphic_identity": "documents_version"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents_document.id"), index=True)
    version_label: Mapped[str] = mapped_column(String(12), default="")
    change_summary: Mapped[str] = mapped_column(Text, default="")
    change_reason: Mapped[str] = mapped_column(Text, default="")
    planned_effective_date: Mapped[date | None] = mapped_column(Date)
    training_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Distinct ``reviewed`` signatures needed before approval.
    reviews_required: Mapped[int] = mapped_column(Integer, default=1)
    # Server-owned: the version that was effective when this one was drafted.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("documents_version.id"))
    # Server-owned: set to the document's id while this version is the effective one. Unique,
    # so the database itself refuses a second effective version of a document.
    effective_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents_document.id"), unique=True)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    obsoleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Server-owned: when its reviews are due, chosen at submission (the review tasks' date).
    review_due: Mapped[date | None] = mapped_column(Date)

    # For the admin form's choice (the core maps it back to ``document_id``).
    document = relationship(Document, foreign_keys=[document_id])


class VersionReviewer(Base):
    """A reviewer named for one version: only named reviewers review it, and approval waits for
    all of them. Named (and withdrawn, never deleted) only while the version is a draft."""

    __tablename__ = "documents_version_reviewer"
    __audit__ = True
    __table_args__ = (UniqueConstraint("version_id", "user_id"),)
    # Named while the version is a draft (documents' validate_change), withdrawn, never deleted.
    __rules__ = ItemRules("named reviewer", changeable=("removed_at", "removed_by_id"),
                          deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("documents_version.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    added_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User", foreign_keys=[user_id])

    def audit_label(self) -> str:
        return f"reviewer {self.user_id} of version {self.version_id}"


SERVER_OWNED_VERSION_FIELDS = ("supersedes_id", "effective_document_id", "effective_at",
                               "obsoleted_at", "review_due")

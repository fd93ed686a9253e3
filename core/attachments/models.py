"""``core_attachment``: one uploaded file of a record. Rows are never updated or deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.db.append_only import make_append_only


class Attachment(Base):
    """A file attached to a record: its display name, checked media type, size and SHA-256, and
    the random name it is stored under. A new upload is a new row (never an overwrite)."""

    __tablename__ = "core_attachment"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), index=True)
    # The user's file name, cleaned for display; never used to store or locate the file.
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    # The first version of the record that includes the file (adding it makes a new version).
    record_version: Mapped[int] = mapped_column(Integer)

    record = relationship("Record")
    uploaded_by = relationship("User")

    def audit_label(self) -> str:
        return self.filename

    def __str__(self) -> str:
        return self.filename


make_append_only(Attachment.__table__)


class AttachmentBlob(Base):
    """An attached file's bytes kept in the database (``ATTACHMENT_STORAGE = "database"``), so
    every web node reads the same files without a shared folder. Written once with its
    attachment row, in the same transaction; checked against the row's SHA-256 on every read."""

    __tablename__ = "core_attachment_blob"

    storage_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


make_append_only(AttachmentBlob.__table__)

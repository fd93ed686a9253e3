"""Database layer: declarative base, UTC timestamps, engine tuning and migrations."""

from core.db.base import Base, UTCDateTime, db, utc_text, utcnow

__all__ = ["Base", "UTCDateTime", "db", "utc_text", "utcnow"]

"""Database layer: declarative base, UTC timestamps, engine tuning and migrations."""

from core.db.base import Base, UTCDateTime, db, utcnow

__all__ = ["Base", "UTCDateTime", "db", "utcnow"]

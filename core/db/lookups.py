"""Argument hygiene for the models' lookups (``User.by_username``, ``Site.by_code``...): what a
person typed or a URL carried never raises, it finds nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db.base import db

# Every primary key is a 32-bit INTEGER; a larger number would fail on PostgreSQL, not miss.
MAX_ID = 2**31 - 1


def lookup_text(value: Any) -> str | None:
    """``value`` stripped, or None when it is not text, is empty or holds a NUL byte (which
    PostgreSQL refuses in a parameter)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and "\x00" not in value else None


def lookup_id(value: Any) -> int | None:
    """A row id from an int or a string of ASCII digits, or None when it cannot be one."""
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value


def row_by_text(model: type, column: Any, value: Any) -> Any:
    """The row of ``model`` whose unique text ``column`` is ``value`` (stripped), or None."""
    value = lookup_text(value)
    return None if value is None else db.session.scalar(select(model).where(column == value))


def row_by_id(model: type, value: Any) -> Any:
    """The row of ``model`` with this id (an int or a string of digits), or None."""
    row_id = lookup_id(value)
    return None if row_id is None else db.session.get(model, row_id)

"""Argument hygiene for the models' lookups (``User.by_username``, ``Site.by_code``...): what a
person typed or a URL carried never raises, it finds nothing."""

from __future__ import annotations

from typing import Any

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

"""Schema objects made by DDL rather than declared on the models (the record search index):
left out when the migrated schema is compared with the models."""

from __future__ import annotations

_PREFIXES: set[str] = set()


def declare_unmodelled(*prefixes: str) -> None:
    """Names starting with any of ``prefixes`` are made by DDL (tables, indexes, triggers)."""
    _PREFIXES.update(prefixes)


def is_unmodelled(name: str | None) -> bool:
    return bool(name) and name.startswith(tuple(_PREFIXES))  # type: ignore[union-attr]

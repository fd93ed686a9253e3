"""Keyset pagination: a page ends with an opaque cursor holding the last row's sort key and id;
the next page starts strictly after it, so deep pages cost what the first one does."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from flask import abort
from sqlalchemy import tuple_


def encode_cursor(value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> tuple[Any, int]:
    """The (sort value, id) of a cursor; 400 for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        if isinstance(value, dict) and kind == "datetime":
            value = datetime.fromisoformat(value["t"])
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id < 2**63:
            raise ValueError("bad id")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("bad value")
        if kind == "str" and not isinstance(value, str):
            raise ValueError("bad value")
        if kind == "datetime" and not isinstance(value, datetime):
            raise ValueError("bad value")
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        abort(400, description="after: not a cursor from this list (use the `next` value)")
    return value, row_id


def after_clause(column: Any, id_column: Any, value: Any, row_id: int, descending: bool,
                 unique: bool = False) -> Any:
    """Rows after (value, id) in the list's order; a row-value comparison, so an index on
    (column, id) serves it as a range (on a unique column the column alone does)."""
    if unique:
        return column < value if descending else column > value
    if descending:
        return tuple_(column, id_column) < tuple_(value, row_id)
    return tuple_(column, id_column) > tuple_(value, row_id)

"""Text the database cannot hold is refused before it reaches a query: NUL characters
(PostgreSQL refuses them in text; a 500 before) and lone surrogates (not encodable as UTF-8), in
the path, the query string, form fields, upload file names and JSON bodies. File contents are
bytes and are never looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import request

from core.web.errors import error_response

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _printable(name: str) -> str:
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)[:100] or "_"


def _json_values(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted field path, text) for every key and string in a JSON document."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield name, str(key)
            yield from _json_values(inner, name)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _json_values(inner, f"{path}.{index}" if path else str(index))


def _body_values() -> Iterator[tuple[str, str]]:
    if request.mimetype in FORM_TYPES:
        for key, value in request.form.items(multi=True):
            yield str(key or ""), str(key or "")  # a malformed part may have no name
            yield str(key or ""), str(value)
        for key, upload in request.files.items(multi=True):
            yield str(key or ""), upload.filename or ""
    elif request.is_json:
        yield from _json_values(request.get_json(silent=True))


def _first_unstorable() -> tuple[str, str] | None:
    """(where, name) of the first value that may not reach the database, where being
    ``path``, ``query`` or ``body``."""
    if UNSTORABLE.search(request.path):
        return "path", "path"
    for key, value in request.args.items(multi=True):
        if UNSTORABLE.search(key) or UNSTORABLE.search(value):
            return "query", key
    for name, value in _body_values():
        if UNSTORABLE.search(value):
            return "body", name
    return None


def refuse_unstorable_input() -> Any:
    """``before_request``: 400 (422 for an API body) naming the parameter, or ``None``."""
    found = _first_unstorable()
    if found is None:
        return None
    where, name = found
    name = _printable(name)
    message = "contains a character that cannot be stored (a NUL byte or a broken character)."
    status = 422 if where == "body" and request.path.startswith("/api/") else 400
    return error_response(status, f"{name}: {message}", {name: [message]})

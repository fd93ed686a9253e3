"""Attached files kept in the database (``ATTACHMENT_STORAGE = "database"``): written in the
transaction that adds the attachment row (a rollback takes both away), read back in chunks.

Where a file lives is looked up when it is read: the database first, then the object store,
then the folder, so a deployment that switches storage still reads the files uploaded before.
"""

from __future__ import annotations

import tempfile
from typing import BinaryIO

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from core.attachments import objects, storage
from core.attachments.models import AttachmentBlob

CHUNK = 1024 * 1024
SPOOL = 1024 * 1024  # a file read back stays in memory up to this size, then in a temp file
BLOBS = AttachmentBlob.__table__


def store(connection: Connection, received: storage.Received, storage_name: str) -> None:
    """Insert the received file's bytes under ``storage_name`` in ``connection``'s transaction."""
    content = received.path.read_bytes()
    connection.execute(insert(AttachmentBlob), {"storage_name": storage_name,
                                                "content": content})


def _read(connection: Connection, storage_name: str) -> BinaryIO | None:
    """The stored bytes, read CHUNK at a time into a spooled file (at its start), or None."""
    size = connection.execute(select(func.length(BLOBS.c.content))
                              .where(BLOBS.c.storage_name == storage_name)).scalar()
    if size is None:
        return None
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - handed to the caller
    for offset in range(0, size, CHUNK):
        chunk = connection.execute(
            select(func.substr(BLOBS.c.content, offset + 1, CHUNK))
            .where(BLOBS.c.storage_name == storage_name)).scalar()
        out.write(chunk)
    out.seek(0)
    return out  # type: ignore[return-value]


def open_stored(connection: Connection, storage_name: str) -> BinaryIO:
    """The stored file, from the database, else the object store (when one is configured),
    else the folder.

    :raises FileNotFoundError: in neither (``ValueError`` for a name the server never made).
    """
    if not storage.STORAGE_NAME.match(storage_name or ""):
        raise ValueError(f"not a storage name: {storage_name!r}")
    found = _read(connection, storage_name)
    if found is None and objects.configured():
        found = objects.read(storage_name)
    if found is not None:
        return found
    return storage.path_of(storage_name).open("rb")

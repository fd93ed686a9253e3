"""The attachment folder: streaming writes, atomic placement, and no file without a row.

Files live at ``<ATTACHMENT_DIR>/<first two characters>/<40 random hex characters>``, read-only.
An upload is streamed to ``<ATTACHMENT_DIR>/incoming/`` while its size and SHA-256 are computed,
then moved into place with ``os.replace`` (atomic on one file system). A placed file is tied to
the database transaction that adds its row: when that transaction (or the savepoint it was
written in) rolls back or is closed without commit, the file is removed again. Only a crash
between the move and the end of the transaction can leave an orphan file (harmless: no row
points to it) or a stale file in ``incoming/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from core.db.after_commit import innermost_transaction, undone_by
from core.errors import ValidationError

CHUNK = 64 * 1024
STORAGE_NAME = re.compile(r"^[0-9a-f]{40}$")
PENDING = "cqms_pending_attachment_files"
FILE_MODE = 0o440
DIR_MODE = 0o750


@dataclass(frozen=True)
class Received:
    path: Path
    size: int
    sha256: str


def storage_dir() -> Path:
    configured = current_app.config.get("ATTACHMENT_DIR") or ""
    folder = Path(configured) if configured else Path(current_app.instance_path) / "attachments"
    return folder if folder.is_absolute() else Path.cwd() / folder


def new_storage_name() -> str:
    return secrets.token_hex(20)


def path_of(storage_name: str) -> Path:
    """Where a stored file lives; refuses anything but a server-generated name."""
    if not STORAGE_NAME.match(storage_name or ""):
        raise ValueError(f"not a storage name: {storage_name!r}")
    return storage_dir() / storage_name[:2] / storage_name


def receive(stream: BinaryIO, max_bytes: int) -> Received:
    """Copy ``stream`` to a temporary file in the storage folder, hashing it; refuse (and remove
    the partial file) beyond ``max_bytes``."""
    incoming = storage_dir() / "incoming"
    incoming.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=incoming)
    path = Path(name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationError({"file": f"The file is larger than the limit of "
                                           f"{_megabytes(max_bytes)}."})
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        discard(path)
        raise
    return Received(path, size, digest.hexdigest())


def place(received: Received, storage_name: str) -> Path:
    """Move a received file to its final, read-only place (atomically)."""
    target = path_of(storage_name)
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(received.path, FILE_MODE)
    os.replace(received.path, target)
    _fsync_dir(target.parent)
    return target


def discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def hash_file(fh: BinaryIO) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


# -- a placed file lives or dies with its transaction ------------------------------------------


def track(session: Session, undo: Callable[[], None]) -> None:
    """Call ``undo`` (remove a placed file or object) unless the transaction now open on
    ``session`` commits."""
    session.info.setdefault(PENDING, []).append((innermost_transaction(session), undo))


def _after_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a released savepoint: the outer one decides
        session.info.pop(PENDING, None)


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested or PENDING not in session.info:
        return
    keep = []
    for transaction, undo in session.info[PENDING]:
        if undone_by(transaction, previous):
            undo()
        else:
            keep.append((transaction, undo))
    session.info[PENDING] = keep


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # ended without commit (rollback or close)
        for _transaction, undo in session.info.pop(PENDING, []):
            undo()


def install() -> None:
    listeners: tuple[tuple[str, Any], ...] = (
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_soft_rollback),
        ("after_transaction_end", _after_transaction_end),
    )
    for name, fn in listeners:
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()

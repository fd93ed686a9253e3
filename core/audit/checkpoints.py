"""Automatic signed checkpoints of the audit chain, appended to a file outside the database.

The keyed chain stops forged or re-hashed entries, but not the deletion of the newest entries:
what is left is still a valid chain. After a commit that wrote audit entries, the head it wrote
on its chain (entry id and hash) is signed and appended to ``AUDIT_CHECKPOINT_FILE``, at most
once per ``AUDIT_CHECKPOINT_SECONDS`` per process and chain; a head held back by that limit is
written when the time is up. ``cqms audit verify`` reads the file and reports a trail that ends before a
checkpoint. Writing happens after the commit and never fails the request that committed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.audit.chain import HEAD, HELD
from core.audit.verify import CHECKPOINT_PURPOSE, Checkpoint, checkpoint_line
from core.integrity import integrity_key, keyed_mac

log = logging.getLogger("cqms.audit")
_lock = threading.Lock()  # guards creating an app's writer (threads of one worker)


def checkpoint_file() -> Path:
    configured = current_app.config.get("AUDIT_CHECKPOINT_FILE") or ""
    return Path(configured) if configured else (
        Path(current_app.instance_path) / "audit-checkpoints.jsonl")


def signed(chain: int, seq: int, head_hash: str, key: bytes) -> Checkpoint:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    unsigned = Checkpoint(seq, head_hash, at, "", "", chain)
    return Checkpoint(seq, head_hash, at, keyed_mac(key, CHECKPOINT_PURPOSE, unsigned.message()),
                      "", chain)


def append_lines(path: Path, points: list[Checkpoint]) -> None:
    """One ``write`` of the lines to a file opened for appending (atomic for short writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, "".join(checkpoint_line(point) + "\n" for point in points).encode())
    finally:
        os.close(fd)


@dataclass
class CheckpointWriter:
    """Per process and file: rate-limits checkpoints and writes held-back heads later."""

    path: Path
    key: bytes
    interval: float
    last_written: float = float("-inf")
    pending: dict[int, tuple[int, str]] = field(default_factory=dict)  # chain: (id, hash)
    timer: threading.Timer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def committed(self, heads: dict[int, tuple[int, str]]) -> None:
        with self.lock:
            for chain, head in heads.items():
                if chain not in self.pending or head[0] > self.pending[chain][0]:
                    self.pending[chain] = head
            wait = self.last_written + self.interval - time.monotonic()
            if wait <= 0:
                self._write_pending()
            elif self.timer is None:
                self.timer = threading.Timer(wait, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def flush(self) -> None:
        with self.lock:
            self.timer = None
            self._write_pending()

    def _write_pending(self) -> None:
        if not self.pending:
            return
        points = [signed(chain, seq, head_hash, self.key)
                  for chain, (seq, head_hash) in sorted(self.pending.items())]
        self.pending = {}
        self.last_written = time.monotonic()
        try:
            append_lines(self.path, points)
        except OSError as exc:  # the change committed; say so loudly, never fail the user
            log.error("audit checkpoints %s not written to %s: %s",
                      ", ".join(f"seq {p.seq}" for p in points), self.path, exc)


def _writers() -> dict[Path, CheckpointWriter]:
    """This app's writers, by file (kept on the app, as its integrity key is)."""
    return current_app.extensions["cqms"].__dict__.setdefault("_checkpoint_writers", {})


def writer() -> CheckpointWriter:
    path = checkpoint_file()
    writers = _writers()
    with _lock:
        found = writers.get(path)
        if found is None:
            found = writers[path] = CheckpointWriter(
                path, integrity_key(), float(current_app.config["AUDIT_CHECKPOINT_SECONDS"]))
        return found


def flush_all() -> None:
    """Write every held-back head of this app now (tests, and a process about to exit)."""
    for found in list(_writers().values()):
        found.flush()


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a released savepoint: the transaction may still undo it
        return
    session.info.pop(HELD, None)
    heads = session.info.pop(HEAD, None)
    if heads:
        writer().committed(heads)


def _after_rollback(session: Session, _previous_transaction: object = None) -> None:
    """Any rollback (a savepoint's too) may have undone the noted heads and released the chain
    (PostgreSQL releases a rolled-back savepoint's locks): forget both."""
    session.info.pop(HELD, None)
    session.info.pop(HEAD, None)


def install() -> None:
    for name, fn in (("after_commit", _after_commit), ("after_soft_rollback", _after_rollback)):
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()

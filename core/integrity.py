"""The integrity key (kept in a file outside the database) and the MACs made with it.

One key, domain-separated by purpose: audit checkpoints and electronic signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from flask import current_app

KEY_BYTES = 32


def key_path() -> Path:
    configured = current_app.config["INTEGRITY_KEY_FILE"]
    return Path(configured) if configured else Path(current_app.instance_path) / "integrity.key"


def integrity_key() -> bytes:
    cache = current_app.extensions["cqms"].__dict__.setdefault("_integrity_key", {})
    path = key_path()
    if path not in cache:
        if not path.exists():
            # Only reachable outside production (config refuses a missing file there).
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_key(path)
        key = path.read_bytes()
        if len(key) < 16:
            raise RuntimeError(f"integrity key {path} is shorter than 16 bytes")
        cache[path] = key
    return cache[path]


def _create_key(path: Path) -> None:
    """Publish a new random key at ``path`` atomically; if another process got there first, keep
    its key (two first users must never end up signing with different keys)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".integrity-key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # fails if the key exists: never overwrite, never half-written
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def keyed_mac(key: bytes, purpose: str, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` under ``key``, domain-separated by ``purpose`` (also used
    offline, with a key read from a file, by ``cqms verify-bundle``)."""
    return hmac.new(key, purpose.encode() + b"\x00" + message, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short public fingerprint of ``key`` (tells which key made a MAC, reveals nothing)."""
    return keyed_mac(key, "key-id", b"")[:16]


def mac(purpose: str, message: bytes) -> str:
    return keyed_mac(integrity_key(), purpose, message)


def mac_ok(purpose: str, message: bytes, expected: str) -> bool:
    return hmac.compare_digest(mac(purpose, message), expected or "")

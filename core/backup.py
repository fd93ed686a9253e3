"""Back-ups that are proven restorable (Annex 11 §7.2, A11-07).

``create_backup(folder)`` writes the database (SQLite: the online backup API; PostgreSQL:
``pg_dump`` custom format), the stored files and the audit checkpoints, with a manifest of
SHA-256 checksums. ``verify_backup(folder)`` checks the checksums, restores the database into a
scratch one, opens it with a second app reading the backed-up files, and runs the same
verification as ``cqms audit verify`` (chain, checkpoints, rows against the trail, signatures'
content and file hashes). The integrity key is never in a back-up: keep it elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import URL, make_url

from core.app import create_app
from core.attachments.storage import storage_dir
from core.audit import verify as audit_verify
from core.audit.checkpoints import checkpoint_file
from core.audit.models import AuditEntry
from core.db import db
from core.integrity import key_path
from core.plugins import installed_entry_points

MANIFEST = "manifest.json"
FORMAT = "cqms-backup/1"
SQLITE_FILE, PG_DUMP = "database.sqlite3", "database.pgdump"


class BackupError(ValueError):
    """The back-up cannot be made or read (one readable line)."""


@dataclass
class BackupReport:
    ok: bool
    lines: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq(url: Any) -> tuple[str, dict[str, str]]:
    """A libpq URL (``postgresql://...``) from a SQLAlchemy one, without its password, and the
    environment that carries the password (never on a command line other users can read)."""
    parsed = make_url(url)
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    bare = URL.create("postgresql", username=parsed.username, host=parsed.host,
                      port=parsed.port, database=parsed.database, query=parsed.query)
    return bare.render_as_string(), env


def _run(args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False,
                              env=env)
    except OSError as exc:
        raise BackupError(f"{args[0]} could not run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{args[0]} failed: {last}")


def create_backup(folder: Path) -> dict[str, Any]:
    """Write a back-up of the current app's database and files into ``folder`` (new or empty);
    on failure the folder is emptied again, so no half back-up is left to be trusted."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} exists and is not an empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _write_backup(folder)
    except BaseException:
        for child in folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        raise


def _write_backup(folder: Path) -> dict[str, Any]:
    url = current_app.config["DATABASE_URL"]
    head = db.session.scalar(select(func.max(AuditEntry.id))) or 0
    db.session.rollback()  # release the read transaction before copying
    if db.engine.dialect.name == "sqlite":
        database = folder / SQLITE_FILE
        source = db.engine.raw_connection()
        try:
            target = sqlite3.connect(database)
            source.driver_connection.backup(target)  # a consistent online copy
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            target.close()
        finally:
            source.close()
    else:
        database = folder / PG_DUMP
        target, env = _libpq(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              f"--file={database}", target], env)
    files_root = storage_dir()
    for source_file in sorted(files_root.rglob("*")) if files_root.is_dir() else []:
        relative = source_file.relative_to(files_root)
        if source_file.is_file() and relative.parts[0] != "incoming":
            target_file = folder / "files" / relative
            target_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_file, target_file)
    if checkpoint_file().is_file():
        shutil.copy2(checkpoint_file(), folder / "audit-checkpoints.jsonl")
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": db.engine.dialect.name,
        "database": database.name,
        "audit_head_seq": head,
        "files": {p.relative_to(folder).as_posix(): _sha256(p)
                  for p in sorted(folder.rglob("*")) if p.is_file()},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: not a CQMS back-up") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise BackupError(f"{folder / MANIFEST} is not readable JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{folder / MANIFEST} is not a CQMS back-up manifest ({FORMAT})")
    return manifest


@contextmanager
def _scratch_database(folder: Path, manifest: dict[str, Any]) -> Iterator[str]:
    """The back-up restored into a scratch database; its URL. Dropped afterwards."""
    if manifest["backend"] == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cqms-restore-") as tmp:
            copy = Path(tmp) / SQLITE_FILE
            shutil.copy2(folder / manifest["database"], copy)
            yield f"sqlite:///{copy}"
        return
    live = make_url(current_app.config["DATABASE_URL"])
    if live.get_backend_name() != "postgresql":
        raise BackupError("a PostgreSQL back-up is verified from a PostgreSQL deployment "
                          "(the scratch database is made on its server)")
    name = f"cqms_restore_{secrets.token_hex(6)}"
    admin = create_engine(live, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}")  # DDL takes no bound parameters
    scratch = live.set(database=name)
    try:
        target, env = _libpq(scratch)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
              f"--dbname={target}", str(folder / manifest["database"])], env)
        yield scratch.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()


def _embedded_plugins() -> dict[str, Any]:
    """Plugins this app was given as objects rather than installed (embedding, tests): the
    restored app needs the same ones to read their tables."""
    installed = installed_entry_points()
    return {key: info.module for key, info in current_app.extensions["cqms"].host.plugins.items()
            if not info.builtin and key not in installed}


def verify_backup(folder: Path) -> BackupReport:
    """Checksums, then restore and full verification; ``ok`` only if everything holds."""
    manifest = read_manifest(folder)
    report = BackupReport(ok=True)
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            report.lines.append(f"missing file {name}")
        elif _sha256(path) != expected:
            report.lines.append(f"changed file {name} (SHA-256 differs from the manifest)")
    if report.lines:
        report.ok = False
        return report
    overrides = {
        "ENV": current_app.config["ENV"], "PLUGINS": current_app.config["PLUGINS"],
        "INTEGRITY_KEY_FILE": str(key_path()), "ATTACHMENT_DIR": str(folder / "files"),
        "SECRET_KEY": current_app.config["SECRET_KEY"],
    }
    with _scratch_database(folder, manifest) as url, \
            tempfile.TemporaryDirectory(prefix="cqms-restore-instance-") as instance:
        points_copy = Path(instance) / "audit-checkpoints.jsonl"  # the back-up stays untouched
        if (folder / "audit-checkpoints.jsonl").is_file():
            shutil.copy2(folder / "audit-checkpoints.jsonl", points_copy)
        restored: Flask = create_app({**overrides, "DATABASE_URL": url, "INSTANCE_PATH": instance,
                                      "AUDIT_CHECKPOINT_FILE": str(points_copy)},
                                     extra_plugins=_embedded_plugins(), environ={})
        try:
            with restored.app_context():
                path = checkpoint_file()
                points = audit_verify.read_checkpoint_file(path) if path.is_file() else []
                connection = db.session.connection()
                points += audit_verify.stored_checkpoints(connection)
                result = audit_verify.verify(connection, points,
                                             restored.extensions["cqms"].reconcilers)
                db.session.rollback()
        finally:
            with restored.app_context():
                db.session.remove()
                for engine in db.engines.values():
                    engine.dispose()
    if not result.ok:
        report.ok = False
        report.lines += [finding.line() for finding in result.findings]
    if result.head_seq != manifest.get("audit_head_seq"):
        report.ok = False
        report.lines.append(f"audit head seq {result.head_seq} restored, "
                            f"{manifest.get('audit_head_seq')} when backed up")
    if report.ok:
        report.lines.append(
            f"OK back-up of {manifest['created_at']} restored ({manifest['backend']}) and "
            f"verified: {result.entries} audit entries (head seq {result.head_seq}), "
            f"{sum(1 for n in manifest['files'] if n.startswith('files/'))} stored files")
    return report

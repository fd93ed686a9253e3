"""``cqms backup create`` and ``cqms backup verify``: back-ups proven by a test restore."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.backup import BackupError, create_backup, verify_backup


@click.group("backup", help="Back-ups of the database and stored files, and their proof.")
def group() -> None:
    pass


@group.command("create", help="Write a back-up into FOLDER (new or empty): database, stored "
                              "files, audit checkpoints and a manifest of SHA-256 checksums. "
                              "The integrity key is not included: keep it elsewhere.")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def create(folder: Path) -> None:
    try:
        manifest = create_backup(folder)
    except BackupError as exc:
        raise click.BadParameter(str(exc), param_hint="FOLDER") from None
    stored = sum(1 for name in manifest["files"] if name.startswith("files/"))
    click.echo(f"backed up to {folder}: {manifest['database']}, {stored} stored files, audit "
               f"head seq {manifest['audit_head_seq']} (integrity key not included)")


@group.command("verify", help="Check a back-up's checksums, restore it into a scratch database "
                              "and verify the audit trail, records, signatures and files as "
                              "`cqms audit verify` does; exit 1 on any problem.")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def verify(folder: Path) -> None:
    try:
        report = verify_backup(folder)
    except BackupError as exc:
        raise click.BadParameter(str(exc), param_hint="FOLDER") from None
    if report.ok:
        click.echo(report.lines[-1])
        return
    click.echo(f"FAILED {report.lines[0]}")
    for line in report.lines[1:]:
        click.echo(f"  also {line}")
    sys.exit(1)

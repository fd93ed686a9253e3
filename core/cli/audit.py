"""``cqms audit``: verify the audit trail and export signed checkpoints of its head."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from core.audit import verify as audit_verify
from core.cli.context import as_system
from core.db import db
from core.db.engine import read_only_scope


@click.group("audit", help="Audit trail integrity.")
def group() -> None:
    pass


@group.command(help="Recompute the hash chain (and record hashes); exit 1 on any problem.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file written by `cqms audit checkpoint` (detects truncation and "
                   "a re-hashed chain).")
def verify(checkpoint_file: Path | None) -> None:
    points = []
    if checkpoint_file is not None:
        if not checkpoint_file.is_file():
            raise click.BadParameter(f"{checkpoint_file} does not exist", param_hint="--checkpoint")
        try:
            points = audit_verify.read_checkpoint_file(checkpoint_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--checkpoint") from None
    # A read-only transaction: on SQLite, verifying a long trail must not hold the write lock.
    with read_only_scope():
        connection = db.session.connection()
        points += audit_verify.stored_checkpoints(connection)
        reconcilers = current_app.extensions["cqms"].reconcilers
        report = audit_verify.verify(connection, points, reconcilers)
        db.session.rollback()
    if report.ok:
        click.echo(f"OK {report.entries} entries (head seq {report.head_seq}, "
                   f"{len(points)} checkpoints)")
        return
    click.echo(f"FAILED {report.findings[0].line()}")
    for finding in report.findings[1:]:
        click.echo(f"  also {finding.line()}")
    sys.exit(1)


@group.command(help="Sign the current chain head and append it to FILE (keep FILE elsewhere).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to append the checkpoint line to.")
@as_system
def checkpoint(out: Path) -> None:
    point = audit_verify.make_checkpoint(db.session.connection())
    with out.open("a", encoding="utf-8") as fh:
        fh.write(audit_verify.checkpoint_line(point) + "\n")
    click.echo(f"checkpoint seq {point.seq} {point.hash[:16]}... appended to {out}")

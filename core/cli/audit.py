"""``cqms audit``: verify the audit trail and export signed checkpoints of its head."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from core.audit import verify as audit_verify
from core.audit.checkpoints import checkpoint_file
from core.cli.context import as_system
from core.db import db
from core.db.engine import read_only_scope


@click.group("audit", help="Audit trail integrity.")
def group() -> None:
    pass


@group.command(help="Recompute the hash chain (and record hashes); exit 1 on any problem.")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Another checkpoint file written by `cqms audit checkpoint` (the automatic "
                   "one, AUDIT_CHECKPOINT_FILE, is always read).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes walking the audit chains at once (PostgreSQL; one chain per "
                   "process at most).")
def verify(checkpoint_path: Path | None, jobs: int) -> None:
    points = []
    if checkpoint_path is not None and not checkpoint_path.is_file():
        raise click.BadParameter(f"{checkpoint_path} does not exist", param_hint="--checkpoint")
    automatic = checkpoint_file()
    for path in dict.fromkeys(p for p in (checkpoint_path, automatic) if p is not None):
        if not path.is_file():
            continue  # no automatic checkpoint written yet (or none since it was moved)
        try:
            points += audit_verify.read_checkpoint_file(path)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--checkpoint") from None
    # A read-only transaction: on SQLite, verifying a long trail must not hold the write lock.
    with read_only_scope():
        connection = db.session.connection()
        points += audit_verify.stored_checkpoints(connection)
        reconcilers = current_app.extensions["cqms"].reconcilers
        report = audit_verify.verify(connection, points, reconcilers, progress=_progress,
                                     jobs=jobs)
        db.session.rollback()
    if report.ok:
        legacy = (f", {report.legacy_entries} from before the chain was keyed"
                  if report.legacy_entries else "")
        click.echo(f"OK {report.entries} entries (head seq {report.head_seq}, "
                   f"{len(points)} checkpoints{legacy})")
        return
    click.echo(f"FAILED {report.findings[0].line()}")
    for finding in report.findings[1:]:
        click.echo(f"  also {finding.line()}")
    sys.exit(1)


def _progress(entries: int) -> None:
    """A line to stderr on long runs (stdout and the exit status stay the command's result)."""
    click.echo(f"verified {entries} entries...", err=True)


@group.command(help="Sign every chain's current head and append them to FILE (keep FILE "
               "elsewhere).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to append the checkpoint line to (default: AUDIT_CHECKPOINT_FILE).")
@as_system
def checkpoint(out: Path | None) -> None:
    out = out or checkpoint_file()
    points = audit_verify.make_checkpoints(db.session.connection())
    with out.open("a", encoding="utf-8") as fh:
        fh.writelines(audit_verify.checkpoint_line(point) + "\n" for point in points)
    for point in points:
        chain = f" (chain {point.chain})" if point.chain else ""
        click.echo(f"checkpoint seq {point.seq}{chain} {point.hash[:16]}... appended to {out}")

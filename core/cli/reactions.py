"""``cqms reactions``: run the reactions due, list pending and failed ones, retry one."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from core.cli.context import as_system
from core.db import db
from core.reactions.models import DONE, Reaction
from core.reactions.service import retry, run_due
from core.users.service import ensure_system_user


@click.group("reactions", help="Plugins' reactions to committed changes (durable, retried).")
def group() -> None:
    pass


@group.command("run", help="Run every pending reaction whose time has come. Exit status 1 "
                           "when one failed (it is retried later).")
@as_system
def run() -> None:
    done, failed = run_due()
    click.echo(f"reactions: {done} run, {failed} failed")
    if failed:
        sys.exit(1)


@group.command("list", help="Print the reactions not yet done (pending and failed).")
@as_system
def list_reactions() -> None:
    rows = db.session.scalars(select(Reaction).where(Reaction.state != DONE)
                              .order_by(Reaction.id)).all()
    for r in rows:
        click.echo(f"{r.id}\t{r.state}\t{r.plugin}\t{r.hook}\tattempts {r.attempts}\t"
                   f"next {r.next_attempt_at:%Y-%m-%d %H:%M} UTC\t{r.last_error[:120]}")
    click.echo(f"{len(rows)} reaction(s) not done")


@group.command("retry", help="Run a pending or failed reaction again now.")
@click.argument("reaction_id", type=click.IntRange(min=1, max=2147483647))
@click.option("--reason", required=True, help="Why it is retried (audited).")
@as_system
def retry_command(reaction_id: int, reason: str) -> None:
    reason = reason.strip()
    if not reason:
        raise click.UsageError("--reason: say why the reaction is retried")
    reaction = db.session.get(Reaction, reaction_id)
    if reaction is None or reaction.state == DONE:
        raise click.UsageError(f"no pending or failed reaction {reaction_id}")
    ok = retry(reaction_id, ensure_system_user(), reason)
    click.echo(f"reaction {reaction_id}: " + ("done" if ok else "failed again"))
    if not ok:
        sys.exit(1)

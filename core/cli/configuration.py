"""``cqms config``: the configuration version in force and the changes that made it (P11-13)."""

from __future__ import annotations

import click
from sqlalchemy import select

from core.cli.context import as_system
from core.config_versions import KINDS, ConfigVersion, active_version
from core.db import db


@click.group("config", help="Configuration versions (settings, role permissions, plugins).")
def group() -> None:
    pass


@group.command("versions", help="Print the version in force, then the last changes, newest "
                                "first: number, UTC time, who, what, change, reason.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@as_system
def versions(limit: int) -> None:
    click.echo(f"In force: {active_version().label}")
    rows = db.session.scalars(select(ConfigVersion).order_by(ConfigVersion.number.desc())
                              .limit(limit))
    for v in rows:
        click.echo(f"{v.number}  {v.at:%Y-%m-%d %H:%M:%S}Z  {v.actor_name}  "
                   f"{KINDS.get(v.kind, v.kind)}: {v.target}  {v.diff}  ({v.reason})")

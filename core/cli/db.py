"""``cqms db``: migrations (one Alembic branch per plugin) and registry synchronisation."""

from __future__ import annotations

import click
from flask import current_app

from core.cli.context import as_system, state
from core.db import migrate
from core.users.sync import seed_reference_data, sync_registry


@click.group("db", help="Database schema: apply, roll back and write migrations.")
def group() -> None:
    pass


@group.command(help="Apply every pending migration of the core and the allowed plugins, then "
               "register their permissions and roles.")
@click.argument("target", default="heads")
def upgrade(target: str) -> None:
    migrate.upgrade(current_app, target)
    counts = _sync()
    click.echo(
        f"database at {', '.join(sorted(migrate.current_heads(current_app)))}; "
        f"{counts['permissions']} new permissions, {counts['roles']} new roles"
    )
    for line in _seed():
        click.echo(line)


@as_system
def _sync() -> dict[str, int]:
    return sync_registry(state().registry)


@as_system
def _seed() -> list[str]:
    return seed_reference_data(state().host)


@group.command(help="Roll back to TARGET: KEY@base removes a plugin's tables, KEY@-1 one step.")
@click.argument("target")
def downgrade(target: str) -> None:
    migrate.downgrade(current_app, target)
    click.echo(f"database at {', '.join(sorted(migrate.current_heads(current_app))) or 'base'}")


@group.command(help="Write the next migration of one plugin's branch.")
@click.option("--plugin", "plugin", required=True, help="Plugin key (core for the core).")
@click.option("-m", "--message", required=True, help="What the migration changes.")
@click.option("--autogenerate", is_flag=True, help="Diff that plugin's models against the DB.")
def revision(plugin: str, message: str, autogenerate: bool) -> None:
    path = migrate.revision(current_app, plugin, message, autogenerate=autogenerate)
    click.echo(f"wrote {path}")


@group.command(help="Show the applied revisions and whether migrations are pending.")
def current() -> None:
    heads = sorted(migrate.current_heads(current_app))
    click.echo(f"applied: {', '.join(heads) or 'none'}")
    click.echo("pending: yes (run `cqms db upgrade`)" if migrate.pending(current_app) else
               "pending: no")

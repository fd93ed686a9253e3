"""``cqms documents ...`` commands."""

from __future__ import annotations

import click

from core import as_system
from plugins.documents.services import seed_types


@click.command("seed-types", help="Add the standard document types (SOP, WI, FORM, POLICY, "
               "PLAN, EXTERNAL) that are missing; safe to run again.")
@as_system
def seed_types_command() -> None:
    click.echo(f"{seed_types()} document types added")

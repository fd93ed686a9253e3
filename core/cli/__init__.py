"""The ``cqms`` command line: database, plugins, users, reminders and demo data.

Every command that writes runs as the ``system`` service principal with the operating-system
user and host recorded as the client, in one transaction: it commits on success and writes
nothing on error. Bad input exits with status 2 and one readable line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from config import ConfigError
from core.app import create_app
from core.cli import (
    audit,
    backup,
    configuration,
    demo,
    exports,
    jobs,
    plugins,
    reactions,
    reminders,
    users,
    validation,
)
from core.cli import db as db_commands
from core.errors import CQMSError, StartupError

EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    click.echo(f"cqms: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def build_cli(app) -> click.Group:  # type: ignore[no-untyped-def]
    @click.group(help="CQMS administration commands (configuration from CQMS_CONFIG and CQMS_*).")
    def cli() -> None:
        pass

    cli.add_command(db_commands.group)
    cli.add_command(audit.group)
    cli.add_command(plugins.group)
    cli.add_command(users.group)
    cli.add_command(reminders.group)
    cli.add_command(reminders.scheduler)
    cli.add_command(reactions.group)
    cli.add_command(jobs.group)
    cli.add_command(demo.command)
    cli.add_command(exports.verify_bundle_command)
    cli.add_command(validation.group)
    cli.add_command(configuration.group)
    cli.add_command(backup.group)
    # Command groups contributed by plugins through `register_commands`.
    for name, command in app.cli.commands.items():
        if name not in cli.commands and isinstance(command, click.Group):
            cli.add_command(command)
    return cli


def main(argv: Sequence[str] | None = None, app=None) -> None:  # type: ignore[no-untyped-def]
    """Run ``cqms``; ``app`` (tests, embedding) replaces the one built from the environment."""
    if app is None:
        try:
            app = create_app()
        except (ConfigError, StartupError) as exc:
            fail(str(exc))
    cli = build_cli(app)
    try:
        with app.app_context():
            cli.main(args=list(argv) if argv is not None else None, prog_name="cqms",
                     standalone_mode=False, obj=app)
    except click.exceptions.Abort:
        fail("aborted")
    except click.UsageError as exc:
        hint = f" (see: cqms {exc.ctx.command_path.partition(' ')[2]} --help)".replace(
            "cqms  ", "cqms "
        ) if exc.ctx else ""
        fail(f"{exc.format_message()}{hint}")
    except click.ClickException as exc:
        fail(exc.format_message())
    except CQMSError as exc:
        fail(str(exc))

"""``cqms plugins``: list the installed plugins and enable or disable allowed ones."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.context import as_system, state
from core.scaffold import ScaffoldError, write_plugin
from core.validation.awaiting import awaiting_validation


@click.group("plugins", help="Installed plugins and their enabled state.")
def group() -> None:
    pass


@group.command("list", help="Print key, version, title, allowed and enabled of every plugin.")
@as_system
def list_plugins() -> None:
    host = state().host
    waiting = awaiting_validation()
    rows = [("KEY", "VERSION", "ALLOWED", "ENABLED", "TITLE")]
    for key, info in host.plugins.items():
        enabled = "yes" if host.is_enabled(key) else "no"
        note = f" (awaiting validation of version {waiting[key]}: read-only)" \
            if key in waiting else ""
        rows.append((key, info.version, "yes", enabled, info.title + note))
    for key in host.not_allowed:
        rows.append((key, "-", "no", "-", "(installed, not in PLUGINS: not loaded)"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])


def _toggle(key: str, enabled: bool, reason: str) -> None:
    changed = state().host.set_enabled(key, enabled, reason)
    verb = "enabled" if enabled else "disabled"
    click.echo(f"{key}: {verb}" if changed else f"{key}: already {verb}")


@group.command("new", help="Write a new in-house plugin package (pip-installable, with a "
                            "record type, signed workflow, migration, reminder, demo data and "
                            "tests) into --path.")
@click.argument("key")
@click.option("--record-type", "label", default="Log entry", show_default=True,
              help="What its records are called, e.g. 'Equipment log entry'.")
@click.option("--path", "folder", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
def new(key: str, label: str, folder: Path) -> None:
    taken = {"core", *state().host.plugins, *state().host.not_allowed}
    try:
        target = write_plugin(key, label.strip(), folder, taken)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{target}: the plugin {key!r} is written. Next: pip install -e {target}, add "
               f"{key} to PLUGINS, cqms db upgrade, then pytest {target}")


@group.command(help="Enable an allowed plugin (its requirements must be enabled).")
@click.argument("key")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@as_system
def enable(key: str, reason: str) -> None:
    _toggle(key, True, reason)


@group.command(help="Disable a plugin; its data is kept and its pages answer 404.")
@click.argument("key")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@as_system
def disable(key: str, reason: str) -> None:
    _toggle(key, False, reason)

"""``cqms users``: create, unlock and deactivate accounts."""

from __future__ import annotations

import sys

import click

from core.cli.context import as_system
from core.users import service


@click.group("users", help="User accounts.")
def group() -> None:
    pass


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@group.command(help="Create an account; the password is prompted for, or read from stdin.")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Printed full name (shown on signatures).")
@click.option("--email", default="", help="E-mail address.")
@click.option("--role", "roles", multiple=True, help="Role key (repeatable), e.g. system_admin.")
@click.option("--must-change-password", is_flag=True, help="Ask for a new password at first login.")
@as_system
def create(username: str, full_name: str, email: str, roles: tuple[str, ...],
           must_change_password: bool) -> None:
    password = _read_password()
    user = service.create_user(username, full_name, email, password, roles=list(roles),
                               must_change_password=must_change_password,
                               reason="Account created with cqms users create")
    click.echo(f"created {user.username} ({', '.join(roles) or 'no roles'})")


@group.command(help="Unlock an account locked after failed sign-ins.")
@click.argument("username")
@click.option("--reason", default="Unlocked with cqms users unlock", help="Why.")
@as_system
def unlock(username: str, reason: str) -> None:
    service.unlock(service.require_user(username), reason=reason)
    click.echo(f"unlocked {username}")


@group.command("verify-identity", help="Record that you verified the person's identity "
                                       "(21 CFR 11.100(b)); until then they cannot sign.")
@click.argument("username")
@click.option("--reason", required=True,
              help="How it was verified, e.g. 'passport checked in person by J. Doe'.")
@as_system
def verify_identity(username: str, reason: str) -> None:
    service.verify_identity(service.require_user(username), service.ensure_system_user(),
                            reason=reason)
    click.echo(f"identity of {username} verified")


@group.command(help="Deactivate an account (it is kept; its sessions end at once).")
@click.argument("username")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@as_system
def deactivate(username: str, reason: str) -> None:
    service.deactivate(service.require_user(username), reason=reason)
    click.echo(f"deactivated {username}")

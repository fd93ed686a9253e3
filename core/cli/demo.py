"""``cqms demo``: demo study, sites and one account per role, then each enabled plugin's demo
data (hook ``load_demo_data``); idempotent.

Passwords come from ``CQMS_DEMO_PASSWORD`` when set; otherwise each account gets a generated one,
kept (mode 0600) in ``<instance>/demo-passwords.txt`` so later runs can print it again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from core.cli.context import as_system
from core.db import db
from core.errors import ValidationError
from core.studies import Site, Study
from core.users import service
from core.users.models import Role
from core.users.passwords import policy_errors

DEMO_STUDY = ("CQMS-DEMO-01", "A phase II study of demo-mab in moderate asthma (demo data)")
DEMO_SITES = (("101", "Berlin University Hospital", "DE"), ("102", "Hôpital Lyon Sud", "FR"))
# (username, printed name, role keys, site code for a site-scoped assignment)
DEMO_USERS = (
    ("admin", "Ada Admin", ("system_admin",), None),
    ("qa", "Quinn Quality", ("qa_manager",), None),
    ("author", "Alex Author", ("author",), None),
    ("reviewer", "Robin Reviewer", ("reviewer",), None),
    ("approver", "Avery Approver", ("approver",), None),
    ("trainer", "Toni Trainer", ("trainer",), None),
    ("trainee", "Taylor Trainee", ("trainee",), None),
    ("auditor", "Audrey Auditor", ("auditor",), None),
    ("inspector", "Ingrid Inspector", ("inspector",), None),
    ("site_monitor", "Sam Monitor", ("site_monitor",), "101"),
)
REASON = "Demo data loaded with cqms demo"


def _password_file() -> Path:
    return Path(current_app.instance_path) / "demo-passwords.txt"


def _stored_passwords() -> dict[str, str]:
    path = _password_file()
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return {user: pw for user, pw in pairs}


def _store_passwords(passwords: dict[str, str]) -> None:
    path = _password_file()
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{u} {p}\n" for u, p in sorted(passwords.items())))


def _study() -> tuple[Study, dict[str, Site]]:
    code, title = DEMO_STUDY
    study = db.session.scalar(select(Study).where(Study.code == code))
    if study is None:
        study = Study(code=code, title=title)
        db.session.add(study)
    sites = {s.code: s for s in study.sites}
    for site_code, name, country in DEMO_SITES:
        if site_code not in sites:
            sites[site_code] = Site(study=study, code=site_code, name=name, country=country)
            db.session.add(sites[site_code])
    db.session.flush()
    return study, sites


def _generated_password(username: str) -> str:
    """A random password the policy accepts (a random one may contain a short username)."""
    while True:
        password = secrets.token_urlsafe(12)
        if not policy_errors(password, username=username):
            return password


@click.command("demo", help="Load demo study, sites and one account per role (idempotent).")
@as_system
def command() -> None:
    shared = os.environ.get("CQMS_DEMO_PASSWORD", "")
    stored = _stored_passwords()
    study, sites = _study()
    created, passwords = [], {}
    for username, name, role_keys, site_code in DEMO_USERS:
        if service.get_user(username) is not None:
            passwords[username] = shared or stored.get(username, "(set earlier; not stored here)")
            continue
        password = shared or _generated_password(username)
        try:
            user = service.create_user(username, name, f"{username}@example.org", password,
                                       reason=REASON)
        except ValidationError as exc:
            if "password" in exc.errors:
                raise click.ClickException(
                    f"CQMS_DEMO_PASSWORD is refused by the password policy: {exc.errors['password']}"
                ) from None
            raise
        for key in role_keys:
            role = db.session.scalar(select(Role).where(Role.key == key))
            if role is None:
                raise click.ClickException(
                    f"role {key!r} is missing: run `cqms db upgrade` first"
                )
            service.assign_role(user, role, reason=REASON,
                                site=sites[site_code] if site_code else None)
        service.verify_identity(user, service.ensure_system_user(),
                                reason="Demo account: a fictitious person")
        created.append(username)
        passwords[username] = password
    if not shared:
        _store_passwords({**stored, **{u: p for u, p in passwords.items() if u in created}})
    db.session.commit()  # before printing: the accounts shown exist even if output is cut short
    click.echo(f"demo data: {len(created)} accounts created, {len(DEMO_USERS) - len(created)} "
               "already present")
    for username, _name, role_keys, site_code in DEMO_USERS:
        scope = f" (site {site_code} of {DEMO_STUDY[0]})" if site_code else ""
        click.echo(f"  {username:<13} {passwords[username]:<24} {', '.join(role_keys)}{scope}")
    known = {u: shared or (passwords[u] if u in created else stored.get(u)) for u in passwords}
    for line in _plugin_demo_data(known, study):
        click.echo(line)


def _plugin_demo_data(passwords: dict[str, str | None], study: Study) -> list[str]:
    """Each enabled plugin's ``load_demo_data`` (in plugin order); their summary lines."""
    host = current_app.extensions["cqms"].host
    users = {username: service.get_user(username) for username, *_ in DEMO_USERS}
    users = {username: user for username, user in users.items() if user is not None}
    lines = []
    for _plugin, summary in host.results_by_plugin("load_demo_data", enabled_only=True,
                                                   users=users, passwords=passwords, study=study):
        if summary:
            lines.append(f"  {summary}")
    db.session.commit()
    return lines

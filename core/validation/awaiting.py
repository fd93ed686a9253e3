"""E6-21: an enabled plugin whose installed code no approved validation summary covers (an
upgrade, a patched file) is awaiting validation while ``core.validation_required`` is on.

Its data stays readable, but nothing of it is written: every flush that would insert, change
or delete a row of one of its models is refused (503), whatever the path (pages, API, CLI,
reactions, jobs). The Plugins page and a banner on every admin page name it and its version.
The checksum is that of the code this process loaded, taken on first need; the approved
summaries are read again on every write and every page, so approving the summary of a test
run of the new version lifts the block at once on every worker.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, select

from core.db import db
from core.errors import CQMSError
from core.read_only import rows_written
from core.settings import get_setting
from core.validation.gate import REQUIRED_SETTING
from core.validation.inventory import component
from core.validation.models import ValidationSummary, component_line

CACHE = "cqms_installed_code"


class AwaitingValidation(CQMSError):
    """A plugin's installed code is not validated yet: its data is read-only (HTTP 503)."""


def _installed(key: str) -> dict[str, Any] | None:
    """The inventory entry of plugin ``key`` as this process loaded it (hashed once)."""
    cache = current_app.extensions.setdefault(CACHE, {})
    if key not in cache:
        cache[key] = component(key)
    return cache[key]


def awaiting_validation() -> dict[str, str]:
    """``{plugin key: installed version}`` of the enabled plugins no approved validation
    summary covers; empty while validation is not required."""
    with db.session.no_autoflush:
        if not get_setting(REQUIRED_SETTING):
            return {}
        host = current_app.extensions["cqms"].host
        keys = [key for key in host.enabled_keys() if key != "core"]
        if not keys:
            return {}
        covered = {line for text in db.session.scalars(
            select(ValidationSummary.components).where(ValidationSummary.state == "approved"))
            for line in (text or "").splitlines()}
    waiting = {}
    for key in keys:
        item = _installed(key)
        if item is None or item["sha256"] is None or component_line(item) not in covered:
            waiting[key] = item["version"] if item else host.plugins[key].version
    return waiting


def awaiting_message(key: str, version: str) -> str:
    title = current_app.extensions["cqms"].host.plugins[key].title
    return (f"{title} {version} is awaiting validation: no approved validation summary covers "
            "the installed code, so its records can be read but not changed until QA approves "
            "the summary of a test run of this version.")


def banners() -> list[str]:
    """The awaiting-validation notices for the admin pages (none when nothing waits)."""
    return [awaiting_message(key, version) for key, version in awaiting_validation().items()]


def _owner(obj: Any, owners: dict[type, str]) -> str | None:
    for cls in type(obj).__mro__:
        if cls in owners:
            return owners[cls]
    return None


def _refuse_unvalidated_writes(session: Any, _context: Any, _instances: Any) -> None:
    state = current_app.extensions.get("cqms") if has_app_context() else None
    if getattr(state, "registry", None) is None:
        return
    owners = state.registry.model_owner
    touched = {_owner(obj, owners) for obj, _deleted in rows_written(session)}
    touched -= {None, "core"}
    if not touched:
        return
    waiting = awaiting_validation()
    for key in sorted(touched):
        if key in waiting:
            raise AwaitingValidation(awaiting_message(key, waiting[key]))


def install() -> None:
    if not event.contains(FlaskSession, "before_flush", _refuse_unvalidated_writes):
        event.listen(FlaskSession, "before_flush", _refuse_unvalidated_writes)


install()

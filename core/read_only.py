"""Read-only mode (Annex 11 §16, A11-16): during an outage, a migration or an investigation,
records stay readable and exportable while nothing can be changed.

With ``READ_ONLY = true`` every flush is refused (503) unless all it writes is what signing in,
reading and exporting need: server-side sessions, sign-in counters, token use times, and audit
events (sign-ins and exports stay on the trail). Below plugins, like the audit listeners: no view
or service can opt out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, inspect

from core.errors import CQMSError

# Columns that reading needs to change; anything else is a change of data.
BOOKKEEPING = {
    "core_user": frozenset({"failed_logins", "last_login_at", "totp_last_step", "locked_at"}),
    "core_api_token": frozenset({"last_used_at"}),
}
APPEND_ALLOWED = frozenset({"core_user_session", "core_audit_entry", "core_audit_checkpoint"})


class ReadOnlyError(CQMSError):
    """The system is in read-only mode (HTTP 503)."""

    def __init__(self) -> None:
        super().__init__("The system is in read-only mode: records can be viewed and exported, "
                         "but nothing can be changed until an administrator ends it.")


def is_read_only() -> bool:
    return has_app_context() and bool(current_app.config.get("READ_ONLY"))


def _allowed(obj: Any, deleted: bool) -> bool:
    table = getattr(getattr(obj, "__table__", None), "name", "")
    if table == "core_user_session":
        return True  # sign-in, sign-out, expiry
    if deleted:
        return False
    if table in APPEND_ALLOWED:
        return True
    state = inspect(obj)
    if state.pending or table not in BOOKKEEPING:
        return False
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    return changed <= BOOKKEEPING[table]


def rows_written(session: Any) -> Iterator[tuple[Any, bool]]:
    """(row, deleted) for every row the pending flush inserts, changes or deletes: what a
    write guard (read-only mode, plugins awaiting validation) judges."""
    yield from ((obj, False) for obj in session.new)
    yield from ((obj, False) for obj in session.dirty if session.is_modified(obj))
    yield from ((obj, True) for obj in session.deleted)


def _refuse_changes(session: Any, _context: Any, _instances: Any) -> None:
    if not is_read_only():
        return
    if not all(_allowed(obj, deleted) for obj, deleted in rows_written(session)):
        raise ReadOnlyError()


def install() -> None:
    if not event.contains(FlaskSession, "before_flush", _refuse_changes):
        event.listen(FlaskSession, "before_flush", _refuse_changes)


install()

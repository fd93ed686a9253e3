"""Callbacks run once the current transaction has committed (dropped on rollback): what the
reactions build on. Installed on the app's session class at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session

AFTER_COMMIT = "cqms_after_commit"
COMMITTED = "cqms_after_commit_ready"


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the current transaction commits (dropped on rollback)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def _committed(session: Session) -> None:
    session.info.setdefault(COMMITTED, []).extend(session.info.pop(AFTER_COMMIT, []))


def _run_after_commit(session: Session, transaction: Any) -> None:
    """Run the callbacks once the committed transaction has ended: unlike inside
    ``after_commit``, they may write (and commit) in a new transaction, e.g. open tasks."""
    if transaction.parent is not None:
        return
    callbacks = session.info.pop(COMMITTED, [])
    for callback in callbacks:
        callback()


def _drop_after_commit(session: Session, *_args: Any) -> None:
    session.info.pop(AFTER_COMMIT, None)


def install() -> None:
    for name, fn in (("after_commit", _committed), ("after_transaction_end", _run_after_commit),
                     ("after_soft_rollback", _drop_after_commit)):
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()

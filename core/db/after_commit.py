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


def innermost_transaction(session: Session) -> Any:
    """The savepoint the session is in, else its transaction: where something is made now."""
    return session.get_nested_transaction() or session.get_transaction()


def undone_by(made_in: Any, rolled_back: Any) -> bool:
    """Whether the rollback of ``rolled_back`` (a transaction, or a savepoint) undid what was
    made in ``made_in`` (``innermost_transaction`` then): a savepoint's rollback undoes only
    what was made inside it."""
    if not rolled_back.nested:
        return True
    while made_in is not None:
        if made_in is rolled_back:
            return True
        made_in = made_in.parent
    return False


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the current transaction commits (dropped on rollback, also of a
    savepoint it was registered in)."""
    session.info.setdefault(AFTER_COMMIT, []).append((callback, innermost_transaction(session)))


def _committed(session: Session) -> None:
    """The transaction committed (a savepoint's release is no commit: its callbacks wait)."""
    if not session.in_nested_transaction():
        session.info.setdefault(COMMITTED, []).extend(
            callback for callback, _made_in in session.info.pop(AFTER_COMMIT, []))


def _run_after_commit(session: Session, transaction: Any) -> None:
    """Run the callbacks once the committed transaction has ended: unlike inside
    ``after_commit``, they may write (and commit) in a new transaction, e.g. open tasks."""
    if transaction.parent is not None:
        return
    session.info.pop(AFTER_COMMIT, None)  # registered in a transaction closed without a commit
    callbacks = session.info.pop(COMMITTED, [])
    for callback in callbacks:
        callback()


def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    """A rollback drops the callbacks registered in what it undid: the whole transaction, or
    the savepoint (and savepoints within it)."""
    kept = [(callback, made_in) for callback, made_in in session.info.pop(AFTER_COMMIT, [])
            if not undone_by(made_in, previous_transaction)]
    if kept:
        session.info[AFTER_COMMIT] = kept


def install() -> None:
    for name, fn in (("after_commit", _committed), ("after_transaction_end", _run_after_commit),
                     ("after_soft_rollback", _drop_after_commit)):
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()

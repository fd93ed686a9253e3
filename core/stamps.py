"""Change stamps: one counter per kind of data a process keeps between requests (role grants,
plugin enabled states), bumped by database triggers on every change to the tables it is computed
from, in the changing transaction, whether the change came from the application or from SQL typed
past it. A request reads every stamp in one query; what a process kept under an older stamp is
read again. So every node sees a grant, a revocation or a plugin switched off on its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, has_request_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import BigInteger, String, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.audit.chain import HEAD
from core.db import Base, db

T = TypeVar("T")
#: stamp key: the tables whose every change bumps it
STAMPED = {
    "grants": ("core_user_role", "core_role", "core_role_permission", "core_permission",
               "core_site"),
    "plugins": ("core_plugin_state",),
    "settings": ("core_setting",),
}
STAMPS = "cqms_change_stamps"  # g: this request's stamps


class ChangeStamp(Base):
    """How many times the tables behind one kind of kept data have changed."""

    __tablename__ = "core_change_stamp"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def stamp_ddl(dialect: str) -> list[str]:
    """The stamp rows and the triggers that bump them (idempotent)."""
    rows = ", ".join(f"('{key}', 0)" for key in STAMPED)
    statements = [f"INSERT INTO core_change_stamp (key, value) VALUES {rows} "  # noqa: S608
                  "ON CONFLICT (key) DO NOTHING"]
    if dialect == "postgresql":
        statements.append(
            "CREATE OR REPLACE FUNCTION core_change_stamp_bump() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN UPDATE core_change_stamp SET value = value + 1 WHERE key = TG_ARGV[0]; "
            "RETURN NULL; END $$")
        statements += [
            f"CREATE OR REPLACE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE OR "
            f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
            f"core_change_stamp_bump('{key}')"
            for key, tables in STAMPED.items() for table in tables]
    elif dialect == "sqlite":
        statements += [
            f"CREATE TRIGGER IF NOT EXISTS {table}_stamp_{verb.lower()} AFTER {verb} ON {table} "  # noqa: S608 - constants
            f"BEGIN UPDATE core_change_stamp SET value = value + 1 WHERE key = '{key}'; END"
            for key, tables in STAMPED.items() for table in tables
            for verb in ("INSERT", "UPDATE", "DELETE")]
    return statements


def _install(_metadata: object, connection: Connection, **_kw: object) -> None:
    """After ``create_all`` (tests, benches): what migration core_0011 does."""
    if not all(connection.dialect.has_table(connection, name)
               for name in ("core_change_stamp", *(t for ts in STAMPED.values() for t in ts))):
        return  # a partial schema (a plugin's tables alone)
    for statement in stamp_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


event.listen(Base.metadata, "after_create", _install)


_ALL_STAMPS = select(ChangeStamp.key, ChangeStamp.value)


_SLOTS: set[str] = {STAMPS}  # every slot kept per transaction outside requests


def _in_transaction(slot: str) -> Any:
    """What was kept in ``slot`` for the session's current transaction (outside requests)."""
    session = db.session()
    cached = session.info.get(slot)
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]
    return None


def _keep_in_transaction(slot: str, value: Any) -> None:
    session = db.session()
    session.info[slot] = (session.get_transaction(), value)


def current_stamps() -> dict[str, int]:
    """Every stamp: read once per request; outside one (CLI, scheduler, jobs) once per
    transaction."""
    if has_request_context():
        if STAMPS in g:
            return g.get(STAMPS)
    elif (stamps := _in_transaction(STAMPS)) is not None:
        return stamps
    with db.session.no_autoflush:
        stamps = dict(db.session.execute(_ALL_STAMPS).all())
    if has_request_context():
        setattr(g, STAMPS, stamps)
    else:
        _keep_in_transaction(STAMPS, stamps)
    return stamps


def _writing() -> bool:
    """Whether this transaction has written (audited) changes: what it reads may be rolled
    back, so it is never kept for other requests."""
    return bool(db.session.info.get(HEAD))


class KeptData:
    """Data a process keeps between requests under one stamp: ``get(item, load)`` returns what
    ``load()`` gave while the stamp has not moved since. No stamp (a row missing), or a
    transaction that has written: nothing kept."""

    def __init__(self, key: str):
        self.key = key
        self.stamp: int | None = None
        self.items: dict[Any, Any] = {}
        self.lock = threading.Lock()

    def get(self, item: Any, load: Callable[[], T]) -> T:
        if _writing():
            return load()
        stamp = current_stamps().get(self.key)
        if stamp is None:
            return load()
        with self.lock:
            if stamp != self.stamp:
                self.stamp, self.items = stamp, {}
            if item in self.items:
                return self.items[item]
        value = load()  # read after the stamp: a change committed meanwhile bumps it again
        if _writing():  # loading flushed this transaction's pending changes
            return value
        with self.lock:
            if self.stamp == stamp:
                self.items[item] = value
        return value


def kept_for_use(key: str, slot: str, load: Callable[[], T]) -> T:
    """``load()``'s value as the process keeps it under stamp ``key`` (``KeptData``), looked
    up once per request (in ``g.<slot>``) or, outside one, once per transaction."""
    if has_request_context():
        if slot not in g:
            setattr(g, slot, kept(key).get(slot, load))
        return getattr(g, slot)
    _SLOTS.add(slot)
    value = _in_transaction(slot)
    if value is None:
        value = kept(key).get(slot, load)
        _keep_in_transaction(slot, value)
    return value


def forget_for_use(slot: str) -> None:
    """This request's or transaction's ``slot`` is stale (changed by the current transaction)."""
    if has_request_context():
        g.pop(slot, None)
    db.session.info.pop(slot, None)


def kept(key: str) -> KeptData:
    """This app's kept data of one stamp."""
    state = current_app.extensions["cqms"].__dict__
    store = state.setdefault("_kept_data", {})
    if key not in store:
        store[key] = KeptData(key)
    return store[key]


def _forget_after_savepoint(session: Session, _previous: object = None) -> None:
    """A rolled-back savepoint may have undone a setting or a plugin's enabling that this
    transaction already read back: read every kept slot again."""
    for slot in _SLOTS:
        session.info.pop(slot, None)


if not event.contains(FlaskSession, "after_soft_rollback", _forget_after_savepoint):
    event.listen(FlaskSession, "after_soft_rollback", _forget_after_savepoint)

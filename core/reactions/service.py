"""Queueing reactions with the change, running them after the commit, retrying failures.

``queue(hook, **objects)`` (inside the change's transaction) writes one ``core_reaction`` row
per enabled plugin implementing ``hook``, in pluggy's calling order (``tryfirst``/``trylast``
kept; hook wrappers do not apply to reactions). Once the transaction commits each row runs in a
transaction of its own, on a job-queue worker when there is a queue (``core.jobs.queue``: a
fan-out to many people does not hold up the request), else in the committing process. The row
is marked done in the same commit as the plugin's writes, so a reaction runs exactly once, and
a crash between the change and its reactions leaves pending rows that ``run_due`` (the
scheduler, ``cqms reactions run``) picks up. A reaction that raises is rolled back, counted and
retried with backoff; the user whose change committed never sees its error. Administrators see
failures under System > Reactions and retry them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import inspect, select

from core.audit.service import record_event
from core.db import Base, db, utcnow
from core.db.after_commit import after_commit
from core.reactions.models import DONE, FAILED, PENDING, Reaction
from core.specs import Transition

log = logging.getLogger("cqms.reactions")
MAX_ATTEMPTS = 8


def _host() -> Any:
    return current_app.extensions["cqms"].host


def _implementations(hook: str) -> list[Any]:
    impls = _host().hook_for_enabled(hook).get_hookimpls()
    return [i for i in reversed(impls) if not (i.hookwrapper or i.wrapper)]


def _reference(value: Any) -> dict[str, Any]:
    """How a reaction's argument is kept in its row: a mapped row by table and key, a workflow
    transition by name (found again from the record's workflow)."""
    if isinstance(value, Transition):
        return {"transition": value.name}
    identity = inspect(value).identity
    return {"table": inspect(value).mapper.local_table.name, "id": identity[0]}


def _payload(objects: dict[str, Any]) -> dict[str, Any]:
    return {name: _reference(value) for name, value in objects.items()}


def queue(hook: str, **objects: Any) -> None:
    """Write the reactions to this change into its transaction; they run after its commit."""
    rows = [Reaction(hook=hook, plugin=impl.plugin_name, state=PENDING,
                     payload=json.dumps(_payload(objects), sort_keys=True))
            for impl in _implementations(hook)]
    if not rows:
        return
    db.session.add_all(rows)
    db.session.flush()
    ids = [row.id for row in rows]
    after_commit(db.session(), lambda: _dispatch(ids))


# Takers of committed reactions (the job queue, core.jobs.queue): each returns True when it has
# taken them to run elsewhere. When none does, they run here, right after the commit.
_takers: list[Callable[[list[int]], bool]] = []


def hand_off_to(taker: Callable[[list[int]], bool]) -> None:
    if taker not in _takers:
        _takers.append(taker)


def _dispatch(ids: list[int]) -> None:
    if not any(taker(ids) for taker in _takers):
        run(ids)


# Rows queued before 0.2 named their objects by hook: (argument, key in the payload, table).
_LEGACY = {"record": ("record_id", "core_record"), "user": ("user_id", "core_user"),
           "signature": ("signature_id", "core_signature"),
           "assignment": ("assignment_id", "core_user_role")}


def _modern(payload: dict[str, Any]) -> dict[str, Any]:
    if all(isinstance(v, dict) for v in payload.values()):
        return payload
    modern = {name: {"table": table, "id": payload[key]}
              for name, (key, table) in _LEGACY.items() if key in payload}
    if "transition" in payload:
        modern["transition"] = {"transition": payload["transition"]}
    return modern


def _model_of(table: str) -> type:
    """The class owning ``table`` (the base-most one when subclasses share it)."""
    return next(m.class_ for m in Base.registry.mappers if m.local_table.name == table and (
        m.inherits is None or m.inherits.local_table is not m.local_table))


def _objects(payload: dict[str, Any]) -> dict[str, Any] | None:
    references = _modern(payload)
    objects = {name: db.session.get(_model_of(ref["table"]), ref["id"])
               for name, ref in references.items() if "table" in ref}
    for name, ref in references.items():
        if "transition" in ref and objects.get("record") is not None:
            workflow = current_app.extensions["cqms"].registry.workflow_for(objects["record"].type)
            objects[name] = workflow.transition(ref["transition"]) if workflow else None
    return None if any(objects.get(name) is None for name in references) else objects


def _implementation(reaction: Reaction) -> Any:
    return next((i for i in _implementations(reaction.hook)
                 if i.plugin_name == reaction.plugin), None)


def run(ids: list[int]) -> None:
    for reaction_id in ids:
        run_one(reaction_id)


def run_one(reaction_id: int) -> bool:
    """Run one pending reaction in its own transaction; True when it is done."""
    try:
        reaction = db.session.get(Reaction, reaction_id)
        if reaction is None or reaction.state == DONE:
            return True
        impl = _implementation(reaction)
        reaction.attempts += 1
        reaction.state, reaction.done_at = DONE, utcnow()  # committed with the plugin's writes
        if impl is None:  # the plugin was disabled meanwhile: it hears nothing
            reaction.last_error = "not run: the plugin is disabled"
            db.session.commit()
            return True
        objects = _objects(json.loads(reaction.payload))
        if objects is None:
            raise LookupError("what it reacts to no longer exists")
        impl.function(**{name: objects[name] for name in impl.argnames if name in objects})
        db.session.commit()
        return True
    except Exception as exc:  # noqa: BLE001 - a failed reaction never reaches the user
        db.session.rollback()
        _failed(reaction_id, exc)
        return False


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** attempts, 24 * 60))


def _failed(reaction_id: int, exc: Exception) -> None:
    log.warning("reaction %s failed: %s: %s", reaction_id, type(exc).__name__, exc)
    try:
        reaction = db.session.get(Reaction, reaction_id)
        reaction.attempts += 1
        reaction.state = FAILED if reaction.attempts >= MAX_ATTEMPTS else PENDING
        reaction.next_attempt_at = utcnow() + _backoff(reaction.attempts)
        reaction.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        reaction.done_at = None
        db.session.commit()
    except Exception:  # noqa: BLE001 - the database itself is failing: the row stays pending
        db.session.rollback()
        log.exception("reaction %s: could not record the failure", reaction_id)


def run_due(now: datetime | None = None) -> tuple[int, int]:
    """Run every pending reaction whose time has come; (done, failed) counts. The caller acts
    as the system principal (``cqms reactions run``, the scheduler): a late reaction's writes are
    the system's."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(Reaction.id).where(
        Reaction.state == PENDING, Reaction.next_attempt_at <= now).order_by(Reaction.id)))
    db.session.rollback()  # end the read: each reaction runs in its own transaction
    done = sum(1 for reaction_id in ids if run_one(reaction_id))
    return done, len(ids) - done


def retry(reaction_id: int, user: Any, reason: str) -> bool:
    """An administrator runs a pending or failed reaction again now (audited)."""
    reaction = db.session.get(Reaction, reaction_id)
    if reaction is None or reaction.state == DONE:
        return False
    reaction.state, reaction.next_attempt_at = PENDING, utcnow()
    record_event("reaction.retried", "core_reaction", reaction.id, field=reaction.hook,
                 new=reaction.plugin, reason=reason, actor=user)
    db.session.commit()
    return run_one(reaction_id)

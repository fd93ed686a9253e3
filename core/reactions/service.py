"""Queueing reactions with the change, running them after the commit, retrying failures.

``queue(hook, **objects)`` (inside the change's transaction) writes one ``core_reaction`` row
per enabled plugin implementing ``hook``, in pluggy's calling order (``tryfirst``/``trylast``
kept; hook wrappers do not apply to reactions). Once the transaction commits each row runs in a
transaction of its own: the row is marked done in the same commit as the plugin's writes, so a
reaction runs exactly once, and a crash between the change and its reactions leaves pending
rows that ``run_due`` (the scheduler, ``cqms reactions run``) picks up. A reaction that raises
is rolled back, counted and retried with backoff; the user whose change committed never sees
its error. Administrators see failures under System > Reactions and retry them.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.audit.service import record_event
from core.db import db, utcnow
from core.db.after_commit import after_commit
from core.reactions.models import DONE, FAILED, PENDING, Reaction

log = logging.getLogger("cqms.reactions")
MAX_ATTEMPTS = 8
HOOKS = ("record_created", "record_transitioned", "signature_applied",
         "role_assignment_changed")


def _host() -> Any:
    return current_app.extensions["cqms"].host


def _implementations(hook: str) -> list[Any]:
    impls = _host().hook_for_enabled(hook).get_hookimpls()
    return [i for i in reversed(impls) if not (i.hookwrapper or i.wrapper)]


def _payload(hook: str, objects: dict[str, Any]) -> dict[str, Any]:
    if hook == "role_assignment_changed":
        return {"assignment_id": objects["assignment"].id}
    payload = {"record_id": objects["record"].id}
    if hook == "record_transitioned":
        payload |= {"transition": objects["transition"].name, "user_id": objects["user"].id}
    elif hook == "signature_applied":
        payload |= {"signature_id": objects["signature"].id}
    return payload


def queue(hook: str, **objects: Any) -> None:
    """Write the reactions to this change into its transaction; they run after its commit."""
    rows = [Reaction(hook=hook, plugin=impl.plugin_name, state=PENDING,
                     payload=json.dumps(_payload(hook, objects), sort_keys=True))
            for impl in _implementations(hook)]
    if not rows:
        return
    db.session.add_all(rows)
    db.session.flush()
    ids = [row.id for row in rows]
    after_commit(db.session(), lambda: run(ids))


def _objects(hook: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    from core.records.content import workflow_of
    from core.records.models import Record
    from core.signatures.models import Signature
    from core.users.models import User, UserRole

    if hook == "role_assignment_changed":
        assignment = db.session.get(UserRole, payload["assignment_id"])
        return None if assignment is None else {"assignment": assignment}
    record = db.session.get(Record, payload["record_id"])
    if record is None:
        return None
    objects: dict[str, Any] = {"record": record}
    if hook == "record_transitioned":
        workflow = workflow_of(record)
        objects["transition"] = workflow.transition(payload["transition"]) if workflow else None
        objects["user"] = db.session.get(User, payload["user_id"])
    elif hook == "signature_applied":
        objects["signature"] = db.session.get(Signature, payload["signature_id"])
    return None if any(v is None for v in objects.values()) else objects


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
        objects = _objects(reaction.hook, json.loads(reaction.payload))
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
    """Run every pending reaction whose time has come; (done, failed) counts."""
    from core.audit.context import audit_context, current_context
    from core.users.service import system_context

    now = now or utcnow()
    ids = list(db.session.scalars(select(Reaction.id).where(
        Reaction.state == PENDING, Reaction.next_attempt_at <= now).order_by(Reaction.id)))
    db.session.rollback()  # end the read: each reaction runs in its own transaction
    acting: Any = nullcontext()
    if ids and current_context().actor_id is None:  # a late reaction acts as the system
        system = system_context("reactions")
        acting = audit_context(actor_id=system.actor_id, actor_name=system.actor_name,
                               client=system.client)
    with acting:
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

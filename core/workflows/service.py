"""``transition()``: the only way a record's state changes.

In one transaction: the transition must exist from the current state; the user needs its
permission in the record's scope and must not be barred by separation of duties; guards and
every plugin's ``validate_transition`` may refuse; a required reason and signature are checked;
then the state changes and the audit entries and signature are written. After commit the
``record_transitioned`` and ``signature_applied`` hooks run.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from core.audit.context import acting_as, audit_reason
from core.audit.service import record_event
from core.corrections import open_correction
from core.db import db
from core.errors import ConflictError, PermissionDenied, ValidationError, WorkflowError
from core.permissions import may_act_in
from core.reactions.service import queue as queue_reactions
from core.records.content import transition_scope, workflow_of
from core.records.models import Record
from core.second_person.service import verification_blockers
from core.signatures.models import Signature
from core.signatures.service import SignatureRequest, has_attested, sign
from core.signatures.service import attest as sign_attestation
from core.specs import Transition
from core.users.models import User
from core.workflows.duties import barred


def available_transitions(record: Record, user: User) -> list[Transition]:
    """Transitions the user may try from the record's current state (for buttons and the API)."""
    workflow = workflow_of(record)
    if workflow is None:
        return []
    return [
        t for t in workflow.transitions
        if record.state in t.source and not t.automatic and _permitted(record, t, user)
        and not _barred(record, t, user)
    ]


def blockers(record: Record, t: Transition, user: User) -> list[str]:
    """Why ``user`` cannot take ``t`` on ``record`` now besides permission and state:
    separation of duties, the transition's guards, plugins' ``validate_transition``, critical
    data not yet verified by a second person."""
    reasons = _barred(record, t, user)
    for guard in t.guards:
        reasons.extend(guard(record, user) or [])
    state = current_app.extensions["cqms"]
    for result in state.host.hook_for_enabled("validate_transition")(record=record,
                                                                     transition=t, user=user):
        reasons.extend(result or [])
    reasons.extend(verification_blockers(record, t.name))  # critical data: a second person
    return reasons


def may_attempt(record: Record, name: str, user: User) -> bool:
    """Whether ``user`` holds the right to try transition ``name`` on ``record`` (its
    permission in the record's scope; automatic ones: the system only). State, guards and
    unknown names are left to ``transition``."""
    workflow = workflow_of(record)
    t = workflow.transition(name) if workflow is not None else None
    if t is None:
        return True
    return user.is_service if t.automatic else _permitted(record, t, user)


def _permitted(record: Record, t: Transition, user: User) -> bool:
    return may_act_in(user, t.permission, study=record.study, site=record.site)


def _barred(record: Record, t: Transition, user: User) -> list[str]:
    return barred(record, t, user)


def transition(
    record: Record,
    name: str,
    user: User,
    *,
    reason: str | None = None,
    signature: SignatureRequest | None = None,
    expected_version: int | None = None,
) -> Record:
    """Move ``record`` along transition ``name`` as ``user``; flushes, the caller commits.

    Raises WorkflowError (illegal or vetoed, 409), PermissionDenied (403), ValidationError
    (missing reason or signature, 422), AuthenticationFailed (wrong password, 401),
    ConflictError (another transaction changed the record meanwhile, 409). Nothing is written
    when any of them is raised (the caller rolls back).
    """
    workflow = workflow_of(record)
    if workflow is None:
        raise WorkflowError(f"{record.type} has no workflow")
    if expected_version is not None and expected_version != record.version:
        raise WorkflowError(f"{record.number} changed since you loaded it (version "
                            f"{record.version}, not {expected_version}); reload and try again")
    t = workflow.transition(name)
    if t is None:
        raise WorkflowError(f"{record.type} has no transition {name!r}")
    if record.state not in t.source:
        raise WorkflowError(f"cannot {t.label or t.name} {record.number} in state {record.state!r}")
    if t.automatic:
        if not user.is_service:
            raise PermissionDenied(f"{t.label or t.name} of {record.number} is done by the "
                                   "system only")
    elif not _permitted(record, t, user):
        raise PermissionDenied(f"{t.permission} is required to {t.label or t.name} {record.number}")
    reasons = blockers(record, t, user)
    if reasons:
        raise WorkflowError("; ".join(reasons), reasons)
    reason = (reason or "").strip()
    if t.reason_required and not reason:
        raise ValidationError({"reason": f"A reason is required to {t.label or t.name}."})
    if t.signature and signature is None:
        raise ValidationError({"signature": f"{t.label or t.name} needs your signature "
                               f"(meaning {t.signature!r}): re-enter your password."})
    written: Signature | None = None
    number = record.number  # a failed flush expires the record: name it without reloading
    try:
        with acting_as(user), audit_reason(reason), transition_scope(record, t.target):
            if t.signature:
                written = sign(record, user, signature,  # type: ignore[arg-type]
                               meaning=t.signature, transition=t.name)
            if t.correction:  # the entry linking the correction to what it corrects
                open_correction(record, t, user)
            old = record.state
            record.state = t.target
            record.updated_by_id = user.id
            # Every transition moves the version, a step that keeps the state too: an edit
            # racing it (or a signature given with it) then fails its version check.
            flag_modified(record, "updated_by_id")
            db.session.flush()
            record_event("transition", record.audit_entity_type, record.id, field=t.name, old=old,
                         new=t.target, actor=user, entity_version=record.version)
            for effect in t.effects:  # consequences in the same transaction (see Transition)
                effect(record, user)
            if t.effects:  # written while the transition's rights apply
                db.session.flush()
    except StaleDataError:  # the UPDATE ... WHERE version = ... matched no row
        raise ConflictError(f"{number} was changed by someone else; reload it") from None
    queue_reactions("record_transitioned", record=record, transition=t, user=user)
    if written is not None:
        queue_reactions("signature_applied", record=record, signature=written)
    return record


def perform_transition(record: Record, name: str, user: User, *, reason: str = "",
                       signature: SignatureRequest | None = None, attest: bool = False,
                       expected_version: int | None = None) -> Record:
    """What a request does to move a record, in one unit of work: sign the attestation first
    when ``attest`` is set and the user has not yet, run ``transition``, commit.

    On any error nothing of the request is committed (the session is rolled back) and the error
    is raised for the caller to show; a wrong signing password has already been counted towards
    lockout in its own transaction. The admin record page, the API and plugin pages all call it.
    """
    try:
        if attest and signature is not None and not has_attested(user):
            sign_attestation(user, signature.password)
        transition(record, name, user, reason=reason, signature=signature,
                   expected_version=expected_version)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return record

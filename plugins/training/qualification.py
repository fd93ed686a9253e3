"""Was a person trained on the version of a document in effect at a given moment, and the
training-gated authority (P11-11) built on that answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import Record, db, get_setting, linked, signatures_of, utcnow
from plugins.training import queries
from plugins.training.models import TrainingAssignment

GOVERNED_BY = "governed_by"


def _evidence(assignment: TrainingAssignment) -> dict[str, Any]:
    return {
        "assignment": assignment.number,
        "state": assignment.state,
        "version_label": assignment.version_label,
        "completed_at": assignment.completed_at.isoformat() if assignment.completed_at else None,
        "expires_on": assignment.expires_on.isoformat() if assignment.expires_on else None,
        "score": assignment.score,
        "evidence": assignment.evidence,
        "signatures": [{"signer": s.printed_name, "meaning": s.meaning,
                        "signed_at": s.signed_at.isoformat(), "valid": s.invalidated_at is None}
                       for s in signatures_of(assignment)],
    }


def trained_on(user_id: int, document_id: int, version_id: int,
               at: datetime) -> list[TrainingAssignment]:
    """Completions by ``at`` of that very version (directly or carried over), unexpired then."""
    rows = db.session.scalars(select(TrainingAssignment).join(
        TrainingAssignment.requirement).where(
        TrainingAssignment.trainee_id == user_id,
        TrainingAssignment.document_version_id == version_id,
        TrainingAssignment.completed_at.is_not(None),
        TrainingAssignment.completed_at <= at,
        Record.state.in_(("completed", "superseded"))).order_by(TrainingAssignment.id))
    return [a for a in rows if a.requirement.document_id == document_id
            and (a.expires_on is None or a.expires_on >= at.date())]


def qualification(user: Any, document: Any, at: datetime | None) -> dict[str, Any]:
    """The answer with its evidence, for the API and the individual training record."""
    moment = at or utcnow()
    version = queries.version_in_effect(document.id, moment)
    answer: dict[str, Any] = {"user": user.username, "document": document.number,
                              "at": moment.isoformat(), "version": None, "qualified": False,
                              "evidence": [], "reason": ""}
    if version is None:
        answer["reason"] = f"{document.number} had no effective version at that moment"
        return answer
    answer["version"] = {"number": version.number, "label": version.version_label,
                         "effective_at": version.effective_at.isoformat()}
    found = trained_on(user.id, document.id, version.id, moment)
    answer["evidence"] = [_evidence(a) for a in found]
    answer["qualified"] = bool(found)
    if not found:
        answer["reason"] = (f"{user.username} had not completed training on {version.number} "
                            "by then")
    return answer


def missing_training(record: Any, user: Any) -> list[str]:
    """Reasons to refuse ``user``'s signature on ``record``: the current effective version of a
    procedure governing it (links ``governed_by``) that they are not trained on. A version in
    effect for less than ``training.gate_grace_days`` does not block yet."""
    if not queries.documents_available():
        return []
    grace = timedelta(days=get_setting("training.gate_grace_days"))
    now = utcnow()
    reasons = []
    for document in linked(record, GOVERNED_BY, direction="out"):
        version = queries.version_in_effect(document.id)
        if version is None or version.effective_at + grace > now:
            continue
        if not trained_on(user.id, document.id, version.id, now):
            reasons.append(f"{user.username} is not trained on {version.number} (governing "
                           f"{record.number}): complete that training before signing")
    return reasons

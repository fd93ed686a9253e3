"""Shared set-up of the training plugin's tests: people, requirements, curricula, short-hands."""

from __future__ import annotations

import io

from sqlalchemy import select

from core import (
    Record,
    Role,
    add_attachment,
    attest,
    audit_reason,
    db,
)
from core.testing import DEFAULT_PASSWORD
from core.testing_records import sig, step  # noqa: F401 - re-exported to the tests
from plugins.training.models import (
    Curriculum,
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def effective(version, people):  # type: ignore[no-untyped-def]
    """A document version taken through submit, review, approve and make_effective by the
    ``people`` alice (author), rita (reviewer), bob (approver) and quinn (QA)."""
    add_attachment(version, people["alice"], "sop.pdf", io.BytesIO(PDF))
    db.session.commit()
    step(version, "submit", people["alice"])
    step(version, "review", people["rita"], signature=sig())
    step(version, "approve", people["bob"], signature=sig())
    step(version, "make_effective", people["quinn"])
    return version


def attested(*users):  # type: ignore[no-untyped-def]
    for user in users:
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return users


def requirement(code="GCP-101", kind="elearning", title="GCP essentials", **values):  # type: ignore[no-untyped-def]
    with audit_reason("test set-up"):
        req = TrainingRequirement(code=code, kind=kind, title=title, **values)
        db.session.add(req)
        db.session.flush()
    db.session.commit()
    return req


def quiz(req, *questions):  # type: ignore[no-untyped-def]
    """``questions``: (text, choices, answer) triples."""
    with audit_reason("test set-up"):
        for position, (text, choices, answer) in enumerate(questions, 1):
            db.session.add(TrainingQuestion(requirement_id=req.id, position=position, text=text,
                                            choices="\n".join(choices), answer=answer))
        db.session.flush()
    db.session.commit()


def curriculum(manager, role_key, *codes, approve=True, **values):  # type: ignore[no-untyped-def]
    from core import create_record

    record = create_record("training_curriculum", manager, title=f"Curriculum {role_key}",
                           role_key=role_key, requirement_codes="\n".join(codes), **values)
    db.session.commit()
    if approve:
        step(record, "approve", manager, signature=sig())
    return record


def assignments_of(user, state=None):  # type: ignore[no-untyped-def]
    stmt = select(TrainingAssignment).where(TrainingAssignment.trainee_id == user.id)
    if state is not None:
        stmt = stmt.where(Record.state == state)
    return list(db.session.scalars(stmt.order_by(TrainingAssignment.id)))


def role(key):  # type: ignore[no-untyped-def]
    return db.session.scalar(select(Role).where(Role.key == key))


def curricula():  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Curriculum).order_by(Curriculum.id)))

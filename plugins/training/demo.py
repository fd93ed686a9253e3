"""Demo training for ``cqms demo`` (hook ``load_demo_data``): requirements for the effective demo
documents (when document control is enabled), two courses (a classroom and an e-learning with
a quiz), curricula for trainees, authors and the demo study's monitors approved by ``qa``, and
one completion by the trainee, so the matrix shows a mix. Idempotent: what exists (by code or
title) is left alone. Signed steps need the demo users' passwords; without them the curricula
stay drafts and nothing is assigned."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core import (
    Record,
    SignatureRequest,
    ValidationError,
    attest,
    audit_reason,
    create_record,
    db,
    transition,
)
from plugins.training import queries, services
from plugins.training.models import (
    Curriculum,
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)

REASON = "Demo data loaded with cqms demo"
# Demo documents (titles of the documents plugin's demo) people are trained on; "{study}" is
# the demo study's code.
DOCUMENTS = ("Control of documents", "Informed consent process", "Monitoring plan ({study})")
GCP = "GCP-CLASS"
DATA_INTEGRITY = "DI-BASICS"
COURSES = (
    (GCP, "GCP classroom", "instructor_led", 0, 80,
     "ICH E6 Good Clinical Practice, taught in a half-day classroom session."),
    (DATA_INTEGRITY, "Data integrity basics", "elearning", 12, 67,
     "ALCOA+ principles and everyday data integrity in clinical research (e-learning)."),
)
QUIZ = (  # (question, choices, the correct choice counted from 1)
    ("What does the first A of ALCOA stand for?",
     ("Accurate", "Attributable", "Available"), 2),
    ("A value in a source document was written down wrongly. What do you do?",
     ("Overwrite it neatly", "Strike it through once, correct it, initial, date and explain",
      "Start a fresh page"), 2),
    ("Who may use your account to sign a record?",
     ("Only you", "Your deputy, when you are away", "Anyone in your team"), 1),
)
# role, curriculum title, the study's curriculum?, requirements (document titles or course codes)
CURRICULA = (
    ("trainee", "Demo curriculum: trainees", False,
     ("Control of documents", "Informed consent process", GCP, DATA_INTEGRITY)),
    ("author", "Demo curriculum: document authors", False,
     ("Control of documents", DATA_INTEGRITY)),
    ("site_monitor", "Demo curriculum: monitors of {study}", True,
     ("Informed consent process", "Monitoring plan ({study})", GCP, DATA_INTEGRITY)),
)


def _signature(users: dict[str, Any], passwords: dict[str, str | None],
               username: str) -> SignatureRequest | None:
    """The user's signature request (attesting once first), or None without a password."""
    user, password = users.get(username), passwords.get(username)
    if user is None or not password:
        return None
    try:
        attest(user, password)
        db.session.commit()
    except ValidationError:  # attested before
        db.session.rollback()
    return SignatureRequest(password=password, comment=REASON)


def _document_requirements(study: Any) -> dict[str, str]:
    """Requirements (kind document) for the effective demo documents; title -> code."""
    codes = {}
    if not queries.documents_available():
        return codes
    for title in DOCUMENTS:
        title = title.format(study=study.code)
        document = queries.controlled_document(title=title)
        if document is None or document.state != "effective":
            continue  # not loaded, or not effective (no passwords when documents were loaded)
        codes[title] = document.number
        if db.session.scalar(select(TrainingRequirement.id).where(
                TrainingRequirement.code == document.number)) is None:
            with audit_reason(REASON):
                db.session.add(TrainingRequirement(
                    code=document.number, title=title, kind="document", document_id=document.id,
                    description=f"Read and understand {document.number}, the version in effect."))
                db.session.flush()
            db.session.commit()
    return codes


def _courses() -> None:
    for code, title, kind, expiry, pass_mark, description in COURSES:
        if db.session.scalar(select(TrainingRequirement.id).where(
                TrainingRequirement.code == code)) is not None:
            continue
        with audit_reason(REASON):
            requirement = TrainingRequirement(code=code, title=title, kind=kind,
                                              expiry_months=expiry, pass_mark=pass_mark,
                                              description=description)
            db.session.add(requirement)
            db.session.flush()
            if code == DATA_INTEGRITY:
                for position, (text, choices, answer) in enumerate(QUIZ, 1):
                    db.session.add(TrainingQuestion(requirement_id=requirement.id,
                                                    position=position, text=text,
                                                    choices="\n".join(choices), answer=answer))
                db.session.flush()
        db.session.commit()


def _curricula(users: dict[str, Any], passwords: dict[str, str | None], study: Any,
               documents: dict[str, str]) -> tuple[int, int]:
    """Create the missing curricula and approve the drafts; (created, approved)."""
    qa = users["qa"]
    created = approved = 0
    for role_key, title, in_study, items in CURRICULA:
        title = title.format(study=study.code)
        curriculum = db.session.scalar(select(Curriculum).where(Record.title == title))
        if curriculum is None:
            codes = [documents.get(item.format(study=study.code), item) for item in items]
            codes = [c for c in codes if c in documents.values() or c in (GCP, DATA_INTEGRITY)]
            curriculum = create_record(
                "training_curriculum", qa, reason=REASON, title=title, role_key=role_key,
                requirement_codes="\n".join(codes), study_id=study.id if in_study else None,
                description=f"What every {role_key.replace('_', ' ')} of the demo is trained on.")
            db.session.commit()
            created += 1
        if curriculum.state == "draft":
            signature = _signature(users, passwords, "qa")
            if signature is None:
                continue
            transition(curriculum, "approve", qa, signature=signature, reason=REASON)
            db.session.commit()  # the assignments are made after this commit
            approved += 1
    return created, approved


def _trainee_completes(users: dict[str, Any], passwords: dict[str, str | None],
                       documents: dict[str, str]) -> bool:
    """The trainee signs one read-and-understood: a document, or else the e-learning after its
    quiz. Once only: nothing happens when the trainee has completed anything."""
    trainee = users.get("trainee")
    if trainee is None:
        return False
    mine = select(TrainingAssignment).where(TrainingAssignment.trainee_id == trainee.id)
    if db.session.scalar(mine.where(Record.state == "completed").limit(1)) is not None:
        return False
    wanted = [documents[t] for t in DOCUMENTS if t in documents] + [DATA_INTEGRITY]
    open_ones = {a.requirement.code: a for a in db.session.scalars(
        mine.where(Record.state == "assigned"))}
    code = next((c for c in wanted if c in open_ones), None)
    signature = _signature(users, passwords, "trainee") if code else None
    if signature is None:
        return False
    assignment = open_ones[code]
    if code == DATA_INTEGRITY:
        services.take_quiz(assignment, trainee, [answer for _q, _c, answer in QUIZ])
        db.session.commit()
    transition(assignment, "complete", trainee, signature=signature, reason=REASON)
    db.session.commit()
    return True


def load(users: dict[str, Any], passwords: dict[str, str | None], study: Any) -> str:
    """Create the demo training that is missing; returns a one-line summary."""
    if "qa" not in users:
        return "training: demo accounts missing, no training loaded"
    documents = _document_requirements(study)
    _courses()
    created, approved = _curricula(users, passwords, study, documents)
    completed = _trainee_completes(users, passwords, documents)
    assigned = db.session.scalar(select(func.count(TrainingAssignment.id))) or 0
    drafts = db.session.scalar(select(func.count(Curriculum.id)).where(
        Record.state == "draft", Record.title.like("Demo curriculum:%"))) or 0
    summary = (f"training: {len(documents)} document and {len(COURSES)} course requirements, "
               f"{created} curricula created, {approved} approved, {assigned} assignments")
    if completed:
        summary += ", the trainee completed one"
    if drafts:
        summary += f" ({drafts} curricula left as drafts: the qa password is not known)"
    return summary

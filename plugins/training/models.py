"""Training requirements (reference data), curricula, assignments and quiz attempts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from core import Base, ItemRules, Record, UTCDateTime, utcnow

# Requirement kinds: the trainee signs their own completion of a document or an e-learning;
# a trainer records (and signs) completion of instructor-led and external training.
SELF_COMPLETED = ("document", "elearning")
TRAINER_RECORDED = ("instructor_led", "external")
KINDS = (*SELF_COMPLETED, *TRAINER_RECORDED)


class TrainingRequirement(Base):
    """Something people must be trained on: a controlled document (always its current effective
    version) or a course, with an optional expiry for periodic retraining and an optional quiz."""

    __tablename__ = "training_requirement"
    __audit__ = True
    __rules__ = ItemRules("training requirement", fixed_fields=("code", "kind", "document_id"),
                          deletable=False)  # retired (active false), never deleted

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    # The documents_document record (a core_record id) for kind "document".
    document_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"), index=True)
    # Months a completion stays current (0: it never expires).
    expiry_months: Mapped[int] = mapped_column(Integer, default=0)
    # Quiz (only when the requirement has questions): pass mark in percent, attempts (0: any).
    pass_mark: Mapped[int] = mapped_column(Integer, default=80)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    questions: Mapped[list[TrainingQuestion]] = relationship(
        back_populates="requirement", order_by="TrainingQuestion.position", lazy="select")

    def audit_label(self) -> str:
        return self.code

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class TrainingQuestion(Base):
    """A multiple-choice question of a requirement's quiz; ``choices`` one per line."""

    __tablename__ = "training_question"
    __audit__ = True
    __rules__ = ItemRules("quiz question", deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("training_requirement.id"),
                                                index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    choices: Mapped[str] = mapped_column(Text)
    # The correct choice, counted from 1.
    answer: Mapped[int] = mapped_column(Integer)

    requirement: Mapped[TrainingRequirement] = relationship(back_populates="questions")

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def audit_label(self) -> str:
        return f"{self.requirement.code if self.requirement else self.requirement_id} " \
               f"Q{self.position}"

    def __str__(self) -> str:
        return f"Q{self.position}: {self.text[:60]}"


class Curriculum(Record):
    """The requirements of a role, optionally within one study, site or country. Approved with
    a signature before it is used; revised back to draft and approved again to change."""

    __tablename__ = "training_curriculum"
    __mapper_args__ = {"polymorphic_identity": "training_curriculum"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    role_key: Mapped[str] = mapped_column(String(64), index=True)
    # ISO 3166 alpha-2: only holders of the role at sites in this country (empty: any).
    country: Mapped[str] = mapped_column(String(2), default="")
    # Requirement codes, one per line (part of the signed content).
    requirement_codes: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")

    @property
    def codes(self) -> list[str]:
        return sorted({line.strip() for line in (self.requirement_codes or "").splitlines()
                       if line.strip()})


class TrainingAssignment(Record):
    """One person's training on one requirement (for a document: one version of it)."""

    __tablename__ = "training_assignment"
    __table_args__ = (Index("ix_training_assignment_trainee_requirement", "trainee_id",
                            "requirement_id"),)

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    requirement_id: Mapped[int] = mapped_column(ForeignKey("training_requirement.id"),
                                                index=True)
    # The document version to read (kind "document"); its label, for lists and exports.
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"))
    version_label: Mapped[str] = mapped_column(String(12), default="")
    curriculum_id: Mapped[int | None] = mapped_column(ForeignKey("training_curriculum.id"))
    # Why it exists: role, curriculum, document_version, expiry or manual.
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_on: Mapped[date | None] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer)
    # Attendance and outcome (instructor-led), carry-over and waiver notes.
    evidence: Mapped[str] = mapped_column(Text, default="")
    carried_over_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_assignment.id"))

    trainee = relationship("User", foreign_keys=[trainee_id], lazy="joined")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - a class-level directive
        # Two foreign keys to core_record (the row itself, the document version): name the join.
        return {"polymorphic_identity": "training_assignment",
                "inherit_condition": cls.__table__.c.id == Record.__table__.c.id}
    requirement = relationship(TrainingRequirement, lazy="joined")


class QuizAttempt(Base):
    """One attempt at an assignment's quiz: the answers given and the score (append-only)."""

    __tablename__ = "training_quiz_attempt"
    __audit__ = True
    __rules__ = ItemRules("quiz attempt", append_only=True, deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("training_assignment.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    # The choice given per question, in question order (e.g. "2,1,3").
    answers: Mapped[str] = mapped_column(String(400))
    score: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def audit_label(self) -> str:
        return f"attempt {self.attempt}"


# Chosen on creation (trainee, requirement, due date) and then fixed; the rest is the plugin's.
ASSIGNMENT_SERVER_FIELDS = ("document_version_id", "version_label", "curriculum_id", "trigger",
                            "completed_at", "expires_on", "score", "evidence", "carried_over_from_id")

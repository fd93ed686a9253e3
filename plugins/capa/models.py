"""Quality events, their investigation lines, CAPAs and their actions; the configurable lists
(event categories, root causes) they choose from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import Base, ItemRules, Record, RecordItem, UTCDateTime


class EventCategory(Base):
    """A kind of quality event (deviation, complaint, system incident...): configurable, retired
    (never deleted). ``check_required``: a CAPA of this category closes only after an effective
    check, unless a signed rationale says why none is needed."""

    __tablename__ = "capa_category"
    __audit__ = True
    __rules__ = ItemRules("event category", fixed_fields=("key",), deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    check_required: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def audit_label(self) -> str:
        return self.key

    def __str__(self) -> str:
        return self.label


class RootCause(Base):
    """A root-cause category an investigation picks (configurable, retired never deleted)."""

    __tablename__ = "capa_root_cause"
    __audit__ = True
    __rules__ = ItemRules("root cause", fixed_fields=("key",), deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def audit_label(self) -> str:
        return self.key

    def __str__(self) -> str:
        return self.label


class QualityEvent(Record):
    """Something that went wrong, or could (potential issue): reported, contained, investigated
    to its root cause and closed with the CAPAs that fix it."""

    __tablename__ = "capa_event"
    __mapper_args__ = {"polymorphic_identity": "capa_event"}
    __table_args__ = (Index("ix_capa_event_category_reported", "category", "reported_at"),)

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    # Protocol deviations only: important or not important (ICH E3 / E6(R3) glossary).
    importance: Mapped[str] = mapped_column(String(20), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    occurred_on: Mapped[date | None] = mapped_column(Date)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    process_area: Mapped[str] = mapped_column(String(40), default="")
    severity: Mapped[str] = mapped_column(String(20), default="minor")
    significant: Mapped[bool] = mapped_column(Boolean, default=False)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    due_date: Mapped[date | None] = mapped_column(Date)
    # Immediate correction / containment (before any investigation), and when it was done.
    containment: Mapped[str] = mapped_column(Text, default="")
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Similar events found when it was reported, and the reviewer's conclusion.
    similar_found: Mapped[str] = mapped_column(Text, default="")
    similar_review: Mapped[str] = mapped_column(Text, default="")
    # Investigation.
    rca_method: Mapped[str] = mapped_column(String(20), default="")
    root_cause_key: Mapped[str] = mapped_column(String(40), default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    capa_needed: Mapped[str] = mapped_column(String(3), default="")
    no_capa_rationale: Mapped[str] = mapped_column(Text, default="")
    # Serious events: the regulatory / IRB-IEC notification, or why none is required.
    notification: Mapped[str] = mapped_column(Text, default="")
    no_notification_rationale: Mapped[str] = mapped_column(Text, default="")


class AnalysisLine(RecordItem):
    """One line of an investigation's analysis: a "why" of the 5 whys, a fishbone branch."""

    __tablename__ = "capa_analysis_line"
    __item_label__ = "analysis line"
    __item_columns__ = (("part", "Part"), ("finding", "Finding"))
    __rules__ = ItemRules("analysis line", append_only=True, deletable=False)

    part: Mapped[str] = mapped_column(String(60))
    finding: Mapped[str] = mapped_column(Text)


class Capa(Record):
    """A corrective and preventive action plan for one or more events or findings, taken to a
    proven-effective fix."""

    __tablename__ = "capa_capa"
    __mapper_args__ = {"polymorphic_identity": "capa_capa"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    problem_statement: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    due_date: Mapped[date | None] = mapped_column(Date)
    # The actions in words (kept by the plugin from the action rows): the plan approval's
    # signature covers it, so a plan changed after approval shows.
    action_plan: Mapped[str] = mapped_column(Text, default="")
    impact_assessment: Mapped[str] = mapped_column(Text, default="")
    # Effectiveness check: what proves the fix works, by when, and what was found.
    check_criteria: Mapped[str] = mapped_column(Text, default="")
    check_due_date: Mapped[date | None] = mapped_column(Date)
    check_result: Mapped[str] = mapped_column(Text, default="")
    check_outcome: Mapped[str] = mapped_column(String(20), default="")
    # The result of the last check found not effective (set when reopened): the next check
    # must record its own.
    previous_check_result: Mapped[str] = mapped_column(Text, default="")


class CapaAction(RecordItem):
    """A corrective or preventive action (or a correction) of a CAPA: owner, due date, and the
    evidence of its completion."""

    __tablename__ = "capa_action"
    __item_label__ = "CAPA action"
    __item_columns__ = (("kind_words", "Kind"), ("description", "Action"),
                        ("owner_name", "Owner"), ("due_date", "Due"),
                        ("completion", "Completed"))
    __rules__ = ItemRules("CAPA action", changeable=("completed_at", "completed_by_id",
                                                     "evidence", "result_record_id"),
                          deletable=False)

    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    evidence: Mapped[str] = mapped_column(Text, default="")
    # The record the action produced (a new SOP version...), when there is one.
    result_record_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"))

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")

    @property
    def kind_words(self) -> str:
        return dict(ACTION_KINDS).get(self.kind, self.kind)

    @property
    def owner_name(self) -> str:
        return self.owner.printed_name if self.owner is not None else "-"

    @property
    def completion(self) -> str:
        if self.completed_at is None:
            return "not yet"
        return f"{self.completed_at:%Y-%m-%d}: {self.evidence}"

    def audit_label(self) -> str:
        return f"action {self.id}"


ACTION_KINDS = (("correction", "Correction"), ("corrective", "Corrective action"),
                ("preventive", "Preventive action"))

"""The audit programme and its planned audits, audits with their team, checklist answers and
inspection requests, findings, and the versioned checklist templates audits are built from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import Base, ItemRules, Record, RecordItem, UTCDateTime

AUDIT_TYPES = (("investigator_site", "Investigator site"), ("vendor", "Vendor / CRO"),
               ("tmf", "Trial master file"), ("computerised_system", "Computerised system"),
               ("internal_process", "Internal process"),
               ("regulatory_inspection", "Regulatory inspection (hosted)"))
RISKS = (("high", "High"), ("medium", "Medium"), ("low", "Low"))
CLASSIFICATIONS = (("critical", "Critical"), ("major", "Major"), ("minor", "Minor"),
                   ("observation", "Observation / recommendation"))
ANSWERS = (("", "(not yet answered)"), ("conforms", "Conforms"), ("finding", "Finding"),
           ("not_applicable", "Not applicable"))
TEAM_ROLES = (("lead", "Lead auditor"), ("auditor", "Auditor"), ("auditee", "Auditee"),
              ("process_owner", "Owner of the audited process"))
AUDITING = ("lead", "auditor")
AUDITED = ("auditee", "process_owner")


class ChecklistTemplate(Base):
    """Reusable questions with the evidence expected, one per line (``question | evidence``).
    A version never changes once saved: a new version is a new row of the same key."""

    __tablename__ = "audits_checklist_template"
    __audit__ = True
    __table_args__ = (UniqueConstraint("key", "version"),)
    __rules__ = ItemRules("checklist template", changeable=("active",), deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def audit_label(self) -> str:
        return f"{self.key} v{self.version}"

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    @property
    def question_lines(self) -> list[tuple[str, str]]:
        """(question, expected evidence) per non-blank line."""
        found = []
        for line in self.questions.splitlines():
            question, _, evidence = line.partition("|")
            if question.strip():
                found.append((question.strip(), evidence.strip()))
        return found


class AuditProgramme(Record):
    """The audits planned for a period, each with its risk and rationale; approved (signed)."""

    __tablename__ = "audits_programme"
    __mapper_args__ = {"polymorphic_identity": "audits_programme"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text, default="")
    # The planned audits in words (kept from the rows): the approval's signature covers it.
    plan: Mapped[str] = mapped_column(Text, default="")


class PlannedAudit(RecordItem):
    """One audit a programme plans: whom, why (risk and rationale), when."""

    __tablename__ = "audits_planned"
    __item_label__ = "planned audit"
    __item_columns__ = (("type_words", "Type"), ("auditee", "Auditee"), ("risk", "Risk"),
                        ("rationale", "Rationale"), ("planned_date", "Planned"),
                        ("lead_name", "Responsible auditor"))
    __rules__ = ItemRules("planned audit", changeable=("audit_id",), deletable=False)

    audit_type: Mapped[str] = mapped_column(String(40))
    auditee: Mapped[str] = mapped_column(String(200))
    risk: Mapped[str] = mapped_column(String(10))
    rationale: Mapped[str] = mapped_column(Text)
    planned_date: Mapped[date] = mapped_column(Date)
    # The auditor responsible for it (the scheduled audit's lead auditor).
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    # The audit scheduled for it, once there is one.
    audit_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"))

    lead = relationship("User", foreign_keys=[lead_id], lazy="joined")

    @property
    def lead_name(self) -> str:
        return self.lead.printed_name if self.lead is not None else "not named"

    @property
    def type_words(self) -> str:
        return dict(AUDIT_TYPES).get(self.audit_type, self.audit_type)


class Audit(Record):
    """An audit or a hosted regulatory inspection: scope, criteria, team, checklist, report."""

    __tablename__ = "audits_audit"
    __mapper_args__ = {"polymorphic_identity": "audits_audit"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    audit_type: Mapped[str] = mapped_column(String(40))
    auditee: Mapped[str] = mapped_column(String(200), default="")
    scope_text: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[str] = mapped_column(Text, default="")
    planned_date: Mapped[date | None] = mapped_column(Date)
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    # The checklist template version its questions came from (set when it is loaded).
    checklist_id: Mapped[int | None] = mapped_column(ForeignKey("audits_checklist_template.id"))
    # Why an auditor who is also audited may still audit (signed by QA when the audit starts).
    objectivity_justification: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    conclusions: Mapped[str] = mapped_column(Text, default="")
    distribution: Mapped[str] = mapped_column(Text, default="")

    checklist = relationship(ChecklistTemplate, lazy="joined")


class TeamMember(RecordItem):
    """Someone on either side of an audit: lead auditor, auditor, auditee, process owner."""

    __tablename__ = "audits_team_member"
    __item_label__ = "team member"
    __item_columns__ = (("person", "Person"), ("role_words", "Role"))
    __rules__ = ItemRules("team member", fixed_fields=("user_id", "role"), deletable=False)

    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    role: Mapped[str] = mapped_column(String(20))

    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    @property
    def person(self) -> str:
        return self.user.printed_name if self.user is not None else "-"

    @property
    def role_words(self) -> str:
        return dict(TEAM_ROLES).get(self.role, self.role)


class ChecklistAnswer(RecordItem):
    """A question of the audit's checklist (copied from its template version) and its answer."""

    __tablename__ = "audits_checklist_answer"
    __item_label__ = "checklist answer"
    __item_columns__ = (("position", "#"), ("question", "Question"),
                        ("expected_evidence", "Evidence expected"), ("answer_words", "Answer"),
                        ("note", "Note"))
    __rules__ = ItemRules("checklist answer", changeable=("answer", "note", "finding_id"),
                          deletable=False)

    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    expected_evidence: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("core_record.id"))

    @property
    def answer_words(self) -> str:
        return dict(ANSWERS).get(self.answer, self.answer)


class InspectionRequest(RecordItem):
    """What an inspector asked for during a hosted inspection, and what was provided."""

    __tablename__ = "audits_inspection_request"
    __item_label__ = "inspector request"
    __item_columns__ = (("created_at", "Asked (UTC)"), ("request", "Request"),
                        ("provided", "Provided"), ("provided_at", "Provided (UTC)"))
    __rules__ = ItemRules("inspector request", changeable=("provided", "provided_at",
                                                           "provided_by_id"), deletable=False)

    request: Mapped[str] = mapped_column(Text)
    provided: Mapped[str] = mapped_column(Text, default="")
    provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provided_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))


class Finding(Record):
    """A classified finding of an audit: evidence, the auditee's response and actions, and the
    verification that closes it. Always in its audit's study and site."""

    __tablename__ = "audits_finding"
    __mapper_args__ = {"polymorphic_identity": "audits_finding"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits_audit.id"), index=True)
    classification: Mapped[str] = mapped_column(String(20))
    requirement_ref: Mapped[str] = mapped_column(String(200), default="")
    evidence: Mapped[str] = mapped_column(Text, default="")
    response: Mapped[str] = mapped_column(Text, default="")
    response_due: Mapped[date | None] = mapped_column(Date)
    proposed_actions: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at the response (``audits.verification_days`` later): what is due once responded.
    verification_due: Mapped[date | None] = mapped_column(Date)
    verification: Mapped[str] = mapped_column(Text, default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    audit = relationship(Audit, foreign_keys=[audit_id], lazy="joined")

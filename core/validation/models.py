"""The validation summary: a controlled record QA approves with an e-signature (A11-02, ISO-22).

Its evidence fields are set by ``cqms validation report --record`` only (server fields); the
results file and the summary PDF are attached, so the approval signature covers them too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.records.models import Record

EVIDENCE_FIELDS = (
    "commit", "core_version", "results_sha256", "requirements_proven",
    "requirements_unproven", "requirements_not_claimed", "tests_passed", "tests_failed",
    "tests_skipped", "components",
)


class ValidationSummary(Record):
    __tablename__ = "core_validation_summary"
    __mapper_args__ = {"polymorphic_identity": "core_validation_summary"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(64), default="")
    core_version: Mapped[str] = mapped_column(String(32), default="")
    results_sha256: Mapped[str] = mapped_column(String(64), default="")
    requirements_proven: Mapped[int] = mapped_column(Integer, default=0)
    requirements_unproven: Mapped[int] = mapped_column(Integer, default=0)
    requirements_not_claimed: Mapped[int] = mapped_column(Integer, default=0)
    tests_passed: Mapped[int] = mapped_column(Integer, default=0)
    tests_failed: Mapped[int] = mapped_column(Integer, default=0)
    tests_skipped: Mapped[int] = mapped_column(Integer, default=0)
    # One line per installed component: "<key> <version> <sha256>".
    components: Mapped[str] = mapped_column(Text, default="")

    def covers(self, item: dict[str, Any]) -> bool:
        """Whether this summary lists the component ``item`` (an inventory entry) exactly."""
        return component_line(item) in (self.components or "").splitlines()


def component_line(item: dict[str, Any]) -> str:
    """How a summary lists one inventory entry: ``<key> <version> <sha256>``."""
    return f"{item['key']} {item['version']} {item['sha256']}"

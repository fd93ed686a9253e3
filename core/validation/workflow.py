"""The validation summary's record type and workflow: draft -> approved (signed) or rejected."""

from __future__ import annotations

from typing import Any

from core.attachments.service import attachments_of
from core.specs import RecordType, Retention, Transition, Workflow
from core.validation.models import EVIDENCE_FIELDS, ValidationSummary

KEY = "core_validation_summary"
VIEW = "core.validation.view"
APPROVE = "core.validation.approve"


def has_evidence(summary: ValidationSummary, _user: Any) -> list[str]:
    """Only a summary built from a results file, with its PDF attached, can be approved."""
    problems = []
    if not summary.results_sha256 or not summary.components:
        problems.append("it was not built from a results file (cqms validation report --record)")
    if not any(a.media_type == "application/pdf" for a in attachments_of(summary)):
        problems.append("the summary PDF is not attached")
    return problems


def no_failures(summary: ValidationSummary, _user: Any) -> list[str]:
    if summary.tests_failed or summary.requirements_unproven:
        return [f"{summary.tests_failed} tests failed and {summary.requirements_unproven} "
                "claimed requirements are not proven: reject it, fix, and run again"]
    return []


WORKFLOW = Workflow(
    KEY, ("draft", "approved", "rejected"), "draft",
    (
        Transition("approve", ("draft",), "approved", APPROVE, "Approve",
                   signature="approved", guards=(has_evidence, no_failures)),
        Transition("reject", ("draft",), "rejected", APPROVE, "Reject", reason_required=True),
    ),
    categories={"draft": "draft", "approved": "closed", "rejected": "cancelled"},
)


def record_type() -> RecordType:
    return RecordType(
        KEY, "Validation summary", ValidationSummary, "VAL", KEY,
        retention=Retention(years=25),
        controlled_fields=EVIDENCE_FIELDS, view_permission=VIEW, manage_permission=APPROVE,
        server_fields=EVIDENCE_FIELDS, admin_category="System",
    )

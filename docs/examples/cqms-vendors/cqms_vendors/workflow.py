"""Proposed -> in assessment -> qualified (e-signature, not by who proposed it) -> retired."""

from __future__ import annotations

from core import Transition, Workflow


def has_description(record, user):  # type: ignore[no-untyped-def]
    return [] if (record.description or "").strip() else ["list the services it provides before submitting"]


TRANSITIONS = (
    Transition("submit", ("draft",), "in_review", "vendors.edit", "Submit for assessment",
               guards=(has_description,)),
    Transition("return_to_draft", ("in_review",), "draft", "vendors.approve", "Return to draft",
               reason_required=True),
    Transition("approve", ("in_review",), "approved", "vendors.approve", "Qualify",
               signature="approved", not_by=("created_by_id",)),
    Transition("close", ("approved",), "closed", "vendors.edit", "Retire", reason_required=True),
)
WORKFLOW = Workflow(
    "vendors_vendor", ("draft", "in_review", "approved", "closed"), "draft", TRANSITIONS,
    categories={"draft": "draft", "in_review": "open", "approved": "open", "closed": "closed"})

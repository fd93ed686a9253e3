"""Store a test run's validation summary as a controlled record, its PDF attached."""

from __future__ import annotations

from collections import Counter
from io import BytesIO

from core.attachments.service import add_attachment
from core.records.rules import server_write
from core.records.service import create_record
from core.users.models import User
from core.users.service import ensure_system_user
from core.validation.models import ValidationSummary, component_line
from core.validation.report import Results
from core.validation.trace import NOT_CLAIMED, PROVEN, UNPROVEN, Trace
from core.validation.workflow import KEY


def evidence(results: Results, trace: Trace) -> dict[str, object]:
    document = results.document
    outcomes = Counter(t["outcome"] for t in document["tests"])
    counts = trace.counts()
    inventory = document.get("inventory", [])
    return {
        "commit": (document.get("environment", {}).get("commit") or "unknown")[:64],
        "core_version": next((i["version"] for i in inventory if i["key"] == "core"), "")[:32],
        "results_sha256": results.sha256,
        "requirements_proven": counts[PROVEN],
        "requirements_unproven": counts[UNPROVEN],
        "requirements_not_claimed": counts[NOT_CLAIMED],
        "tests_passed": outcomes["passed"],
        "tests_failed": outcomes["failed"] + outcomes["error"],
        "tests_skipped": outcomes["skipped"] + outcomes["not run"],
        "components": "\n".join(component_line(item) for item in inventory),
    }


def record_summary(results: Results, trace: Trace, pdf: bytes, owner: User) -> ValidationSummary:
    """A draft summary owned by ``owner`` (who needs ``core.validation.approve``), created by
    the system principal. Flushes; the caller commits."""
    system = ensure_system_user()
    values = evidence(results, trace)
    finished = str(results.document.get("finished_at", ""))[:10]
    with server_write(KEY):  # the evidence fields: no form or API request sets them
        summary = create_record(KEY, system, owner_id=owner.id, reason="Built from a test run",
                                title=f"Validation summary, commit {str(values['commit'])[:12]}, "
                                      f"tests of {finished}", **values)
    add_attachment(summary, system, f"validation-summary-{str(values['commit'])[:12]}.pdf",
                   BytesIO(pdf), "application/pdf", reason="The summary of the test run")
    return summary  # type: ignore[return-value]

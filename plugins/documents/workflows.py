"""The document and version workflows: states, transitions, guards and their effects.

Version: draft -> in_review (submit) -> in_review (review, repeated) -> approved (approve) ->
effective (make_effective) -> superseded (when the next version becomes effective) or obsolete.
The document follows: draft until its first version is effective, effective, then obsolete;
once its type's retention period has passed, an obsolete document may be disposed of (ISO-08:
a state, nothing is deleted).
"""

from __future__ import annotations

from datetime import date, datetime

from core import (
    Retention,
    Transition,
    Workflow,
    add_months,
    attachments_of,
    close_tasks,
    db,
    delegators_of,
    get_setting,
    link_records,
    server_write,
    transition,
    utcnow,
)
from plugins.documents import queries
from plugins.documents.models import Document, DocumentVersion

PERIODIC_REVIEW = "documents.periodic_review"
VERSION = "documents_version"
DOCUMENT = "documents_document"


# -- guards: (record, user) -> reasons to refuse ------------------------------------------------


def has_a_file(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    return [] if attachments_of(version) else [f"{version.number} has no file: attach one first"]


def change_is_explained(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    """From the second version on, the change needs a summary and a reason (ISO-03)."""
    earlier = [v for v in queries.versions_of(queries.document_of(version)) if v.id < version.id]
    if not earlier:
        return []
    missing = [name for name in ("change_summary", "change_reason")
               if not (getattr(version, name) or "").strip()]
    return [f"a new version needs a {name.replace('_', ' ')}" for name in missing]


def sensible_review_count(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    return [] if 1 <= (version.reviews_required or 0) <= 20 else [
        "reviews required must be between 1 and 20"]


def named_reviewer(version: DocumentVersion, user) -> list[str]:  # type: ignore[no-untyped-def]
    """With named reviewers, only they review the version (or, while one is absent, their
    delegate, signing on their behalf)."""
    named = {r.user_id for r in queries.named_reviewers(version)}
    if named and user.id not in named and not named & {p.id for p in delegators_of(user)}:
        return [f"{version.number} is reviewed by its named reviewers only"]
    return []


def not_reviewed_yet_by(version: DocumentVersion, user) -> list[str]:  # type: ignore[no-untyped-def]
    if user.id in queries.valid_signers(version, "reviewed"):
        return [f"you have already reviewed {version.number}"]
    return []


def reviews_complete(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    named = queries.named_reviewers(version)
    if named:
        signed = queries.reviewed_for(version)
        waiting = [r.user.username for r in named if r.user_id not in signed]
        return [f"{version.number} awaits the review of {', '.join(waiting)}"] if waiting else []
    done = len(queries.reviewed_for(version))
    if done < version.reviews_required:
        return [f"{version.number} has {done} of {version.reviews_required} required reviews"]
    return []


def independent_approver(version: DocumentVersion, user) -> list[str]:  # type: ignore[no-untyped-def]
    if user.id in queries.valid_signers(version, "reviewed") | queries.reviewed_for(version):
        return ["a reviewer of this version may not also approve it"]
    return []


def approving_function(version: DocumentVersion, user) -> list[str]:  # type: ignore[no-untyped-def]
    """Changes are approved by the function the document type names (ISO-07)."""
    document = queries.document_of(version)
    doc_type = queries.type_of(document) if document else None
    if doc_type is None or not doc_type.approver_role:
        return []
    if any(a.role.key == doc_type.approver_role for a in user.active_assignments()):
        return []
    return [f"{doc_type.code} documents are approved by the role {doc_type.approver_role!r}"]


def approval_present(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    """Effective only with a valid approval signature on this very version (ISO-01)."""
    if queries.valid_signers(version, "approved"):
        return []
    return [f"{version.number} carries no valid approval signature"]


def planned_date_reached(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    planned = version.planned_effective_date
    if planned is not None and planned > utcnow().date():
        return [f"{version.number} is planned to become effective on {planned.isoformat()}"]
    return []


def newer_version_effective(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    if queries.count_in_state(version.document_id, "effective", exclude=version.id):
        return []
    return ["a version is superseded only when a newer one becomes effective"]


def no_revision_in_progress(version: DocumentVersion, _user) -> list[str]:  # type: ignore[no-untyped-def]
    others = queries.versions_in_progress(version.document_id, exclude=version.id)
    return [f"{v.number} is in progress ({v.state}): finish it first" for v in others]


def has_effective_version(document: Document, _user) -> list[str]:  # type: ignore[no-untyped-def]
    if queries.count_in_state(document.id, "effective"):
        return []
    return [f"{document.number} has no effective version"]


def no_current_revision(document: Document, _user) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{v.number} is in progress: the revision answers the review"
            for v in queries.versions_in_progress(document.id)]


def retired_at(document: Document) -> datetime | None:
    """When the document was made obsolete: when its last effective version was."""
    return max((v.obsoleted_at for v in queries.versions_of(document) if v.obsoleted_at),
               default=None)


def retention_months(document: Document) -> int:
    doc_type = queries.type_of(document)
    return doc_type.retain_obsolete_for_months if doc_type else get_setting(
        "documents.retain_obsolete_for_months")


def document_kept_until(document: Document) -> date | None:
    """The last day an obsolete document (and all its versions) is kept: its type's retention
    after it became obsolete (ISO-08); None while it is in use."""
    since = retired_at(document)
    return add_months(since.date(), retention_months(document)) if since is not None else None


def version_kept_until(version: DocumentVersion) -> date | None:
    """A version is kept as long as its document."""
    document = queries.document_of(version)
    return document_kept_until(document) if document is not None else None


RETENTION_RULE = ("its document type's retention period after the document became obsolete "
                  "(disposal is the document's signed dispose step)")
DOCUMENT_RETENTION = Retention(rule=document_kept_until, rule_text=RETENTION_RULE)
VERSION_RETENTION = Retention(rule=version_kept_until, rule_text=RETENTION_RULE)


def retention_over(document: Document, _user) -> list[str]:  # type: ignore[no-untyped-def]
    """Kept for the type's retention period after it became obsolete (ISO-08)."""
    since = retired_at(document)
    if since is None:
        return [f"{document.number} has no date of obsolescence: it is kept"]
    months = retention_months(document)
    until = add_months(since.date(), months)
    if utcnow().date() < until:
        return [f"{document.number} is kept until {until.isoformat()} ({months} months after it "
                f"became obsolete on {since.date().isoformat()})"]
    return []


def nothing_left_in_use(document: Document, _user) -> list[str]:  # type: ignore[no-untyped-def]
    reasons = []
    if queries.count_in_state(document.id, "effective"):
        reasons.append(f"{document.number} still has an effective version: obsolete it")
    reasons += [f"{v.number} is in progress ({v.state})"
                for v in queries.versions_in_progress(document.id)]
    return reasons


# -- effects: (record, user), inside the transition's transaction --------------------------------


def take_effect(version: DocumentVersion, user) -> None:  # type: ignore[no-untyped-def]
    """Supersede the previously effective version, take its place, start the review clock."""
    document = queries.document_of(version)
    previous = queries.effective_version(document)
    with server_write(VERSION):
        if previous is not None:
            previous.effective_document_id = None
            transition(previous, "supersede", user)  # flushes: frees the one effective slot
        version.effective_document_id = document.id
        version.effective_at = utcnow()
        document.next_review_date = next_review(document)
        if document.state == "draft":
            transition(document, "activate", user)
        db.session.flush()
    close_tasks(document, kind=PERIODIC_REVIEW, by=user)  # a revision answers the review
    if previous is not None:
        link_records(version, previous, "supersedes", user,
                     reason=f"{version.number} supersedes {previous.number}")


def next_review(document: Document) -> date:
    doc_type = queries.type_of(document)
    months = doc_type.review_interval_months if doc_type else get_setting(
        "documents.review_interval_months")
    return add_months(utcnow().date(), months)


def review_confirmed(document: Document, user) -> None:  # type: ignore[no-untyped-def]
    """Periodic review outcome "no change": a new review date, the review task done."""
    document.next_review_date = next_review(document)
    db.session.flush()
    close_tasks(document, kind=PERIODIC_REVIEW, by=user)


def withdraw_from_use(version: DocumentVersion, user) -> None:  # type: ignore[no-untyped-def]
    document = queries.document_of(version)
    with server_write(VERSION):
        version.effective_document_id = None
        version.obsoleted_at = utcnow()
        document.next_review_date = None
        db.session.flush()
        transition(document, "retire", user)
    close_tasks(document, kind=PERIODIC_REVIEW, by=user, state="cancelled")


VERSION_TRANSITIONS = (
    Transition("submit", ("draft",), "in_review", "documents.create", "Submit for review",
               guards=(has_a_file, change_is_explained, sensible_review_count),
               page="documents.submit_page"),
    Transition("review", ("in_review",), "in_review", "documents.review", "Sign the review",
               signature="reviewed", guards=(named_reviewer, not_reviewed_yet_by),
               not_by=("created_by_id",)),
    Transition("reject", ("in_review",), "draft", "documents.review", "Return to draft",
               reason_required=True),
    Transition("approve", ("in_review",), "approved", "documents.approve", "Approve",
               signature="approved", not_by=("created_by_id",),
               guards=(reviews_complete, independent_approver, approving_function)),
    Transition("make_effective", ("approved",), "effective", "documents.manage", "Make effective",
               guards=(approval_present, planned_date_reached, no_revision_in_progress),
               effects=(take_effect,)),
    Transition("supersede", ("effective",), "superseded", "documents.manage", "Supersede",
               guards=(newer_version_effective,)),
    Transition("obsolete", ("effective",), "obsolete", "documents.approve", "Make obsolete",
               signature="approved", reason_required=True, guards=(no_revision_in_progress,),
               effects=(withdraw_from_use,)),
)
DOCUMENT_TRANSITIONS = (
    Transition("activate", ("draft",), "effective", "documents.manage", "Activate",
               guards=(has_effective_version,)),
    Transition("retire", ("effective",), "obsolete", "documents.approve", "Retire",
               guards=(nothing_left_in_use,)),
    # Periodic review, outcome "no change" (outcome "revise": a new version, see services.revise).
    Transition("confirm_review", ("effective",), "effective", "documents.approve",
               "Confirm the periodic review", signature="approved",
               guards=(no_current_revision,), effects=(review_confirmed,)),
    # Retention over: the record stays (metadata, files, trail); only its state says disposed.
    Transition("dispose", ("obsolete",), "disposed", "documents.manage", "Dispose of",
               signature="approved", reason_required=True, guards=(retention_over,)),
)
WORKFLOWS = [
    # A version's work is open until it takes effect; then it is a closed part of the history.
    Workflow(VERSION, ("draft", "in_review", "approved", "effective", "superseded", "obsolete"),
             "draft", VERSION_TRANSITIONS,
             categories={"draft": "draft", "in_review": "open", "approved": "open",
                         "effective": "closed", "superseded": "closed", "obsolete": "closed"}),
    # A document is open while in force (its periodic review falls due); retired, it is closed.
    Workflow(DOCUMENT, ("draft", "effective", "obsolete", "disposed"), "draft",
             DOCUMENT_TRANSITIONS,
             categories={"draft": "draft", "effective": "open", "obsolete": "closed",
                         "disposed": "closed"}),
]

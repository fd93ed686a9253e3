"""Shared set-up of the documents plugin's tests: people, types, files and short-hands."""

from __future__ import annotations

import io

from core import add_attachment, attest, db
from core.testing import DEFAULT_PASSWORD
from core.testing_records import sig, step  # noqa: F401 - re-exported to the tests
from plugins.documents.services import create_document, create_version, seed_types

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def people(make_user):  # type: ignore[no-untyped-def]
    """author, reviewer, approver, qa (manager), each attested where they sign."""
    author = make_user("alice", "author")
    reviewer = make_user("rita", "reviewer")
    approver = make_user("bob", "approver")
    qa = make_user("quinn", "qa_manager")
    for user in (reviewer, approver, qa):
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return author, reviewer, approver, qa


def seeded(system_actor):  # type: ignore[no-untyped-def]
    seed_types()
    db.session.commit()


def attach(version, user, name="sop.pdf", reason=""):  # type: ignore[no-untyped-def]
    attachment = add_attachment(version, user, name, io.BytesIO(PDF), reason=reason)
    db.session.commit()
    return attachment


def draft(author, type_code="SOP", title="Cleaning of the freezer"):  # type: ignore[no-untyped-def]
    document = create_document(author, title=title, type_code=type_code)
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    return document, version


def to_effective(version, author, reviewer, approver, qa):  # type: ignore[no-untyped-def]
    """Submit (with a file), review, approve and make effective."""
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    step(version, "approve", approver, signature=sig())
    step(version, "make_effective", qa)
    return version

"""Retention of obsolete documents (ISO-08): ``dispose`` (obsolete -> disposed, documents.manage,
reason and signature) is refused before ``obsoleted_at + retain_obsolete_for_months`` of the
document's type; disposal deletes nothing (metadata, files and audit trail stay)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from documents_helpers import draft, people, seeded, sig, step, to_effective
from sqlalchemy import select
from test_documents_api import signed

from core import ValidationError, attachments_of, audit_reason, db, open_attachment, utcnow
from core.audit.models import AuditEntry
from core.testing import csrf_token
from core.testing_api import ApiCaller, problem
from plugins.documents import workflows
from plugins.documents.models import DocumentType
from plugins.documents.services import create_version

pytestmark = pytest.mark.plugins("documents")
YEARS_AGO = 11


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    make_user("audrey", "auditor")
    return people(make_user)


def obsolete_document(team, monkeypatch, title, *, years_ago=0):  # type: ignore[no-untyped-def]
    """An SOP made effective and then obsolete ``years_ago`` (the plugin's clock set back while
    it is withdrawn: the data is created in the past, the database is real)."""
    author, reviewer, approver, qa = team
    document, version = draft(author, title=title)
    to_effective(version, author, reviewer, approver, qa)
    if years_ago:
        then = utcnow() - timedelta(days=365 * years_ago)
        monkeypatch.setattr(workflows, "utcnow", lambda: then)
    step(version, "obsolete", approver, reason="Process retired", signature=sig())
    monkeypatch.undo()
    return document, version


@pytest.mark.req("ISO-08")
def test_disposal_is_refused_before_the_retention_period_ends(client, team, monkeypatch):
    document, version = obsolete_document(team, monkeypatch, "Old balance calibration")
    sop = db.session.scalar(select(DocumentType).where(DocumentType.code == "SOP"))
    assert sop.retain_obsolete_for_months == 120
    quinn, audrey = ApiCaller(client, "quinn"), ApiCaller(client, "audrey")
    url = f"/records/documents_document/{document.id}/transitions/dispose"
    body = {"reason": "Retention period over", **signed()}
    refused = problem(quinn.post(url, json=body), 409)
    kept_until = workflows.add_months(version.obsoleted_at.date(), 120).isoformat()
    assert f"kept until {kept_until}" in refused["detail"]
    problem(audrey.post(url, json=body), 403)  # documents.manage is required
    db.session.refresh(document)
    assert document.state == "obsolete"

    # A shorter retention on the type lets it go (the change is audited with a reason).
    with audit_reason("Retention aligned with the regulatory minimum"):
        sop.retain_obsolete_for_months = 0
        db.session.commit()
    disposed = quinn.post(url, json=body)
    assert disposed.status_code == 200, disposed.get_json()
    assert disposed.get_json()["state"] == "disposed"


@pytest.mark.req("ISO-08")
@pytest.mark.backends("sqlite", "postgresql")
def test_disposal_after_the_period_keeps_metadata_files_and_trail(client, login, team,
                                                                  monkeypatch, cqms_backend):
    author, *_ = team
    document, version = obsolete_document(team, monkeypatch, "Old freezer log",
                                          years_ago=YEARS_AGO)
    assert version.obsoleted_at < utcnow() - timedelta(days=365 * 10)
    attachment = attachments_of(version)[0]
    quinn = ApiCaller(client, "quinn")
    url = f"/records/documents_document/{document.id}/transitions/dispose"
    problem(quinn.post(url, json=signed()), 422, "reason")
    problem(quinn.post(url, json={"reason": "Retention period over"}), 422, "signature")
    done = quinn.post(url, json={"reason": "Retention period over", **signed()})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "disposed"
    signatures = quinn.get(f"/records/documents_document/{document.id}/signatures").get_json()
    assert [(s["meaning"], s["signer"]) for s in signatures] == [("approved", "quinn")]
    db.session.expire_all()
    assert (document.state, document.number, document.title) == ("disposed", "SOP-0001",
                                                                 "Old freezer log")
    assert version.state == "obsolete"  # the version and its file stay as they were
    with open_attachment(attachment) as fh:
        assert len(fh.read()) == attachment.size
    trail = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_id == str(document.id), AuditEntry.action == "transition")).all()
    assert [e.new_value for e in trail][-2:] == ["obsolete", "disposed"]
    assert trail[-1].reason == "Retention period over"
    with pytest.raises(ValidationError) as refused:  # no new versions, like obsolete
        create_version(document, author)
    assert "document_id" in refused.value.errors
    db.session.rollback()
    problem(quinn.post(url, json={"reason": "again", **signed()}), 409)

    # Only history holders read it; the record page says DISPOSED.
    assert ApiCaller(client, "alice").get(f"/records/documents_document/{document.id}") \
        .status_code == 404
    login(client, "audrey")
    page = client.get(f"/admin/documents_document/details/?id={document.id}")
    assert 'id="record-badge">DISPOSED</span>' in page.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})

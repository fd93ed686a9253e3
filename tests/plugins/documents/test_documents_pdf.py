"""The point-of-use PDF of a document version (issue 5): a cover with the signature
manifestations, the version's PDF pages stamped with a header and a watermark, the stored files
unchanged; offered on the record page (POST) and in the API, in scope only, always audited."""

from __future__ import annotations

import hashlib
import io

import pytest
from documents_helpers import people, seeded, sig, step
from pypdf import PdfReader
from sqlalchemy import select
from weasyprint import HTML

from core import (
    add_attachment,
    attachments_of,
    db,
    open_attachment,
    signatures_of,
    update_record,
)
from core.audit.models import AuditEntry
from core.studies import Site, Study
from core.testing import post_with_token
from core.testing_api import ApiCaller
from plugins.documents.pdf import render_version_pdf
from plugins.documents.services import create_document, create_version, revise

pytestmark = pytest.mark.plugins("documents")
API = "/api/v1"


def original_pdf() -> bytes:
    """Two pages of different sizes (A4 portrait, letter landscape)."""
    html = ("<style>@page { size: A4 } @page wide { size: letter landscape }"
            ".w { page: wide }</style><p>ORIGINAL PAGE ONE</p>"
            "<p class='w' style='break-before: page'>ORIGINAL PAGE TWO</p>")
    return HTML(string=html).write_pdf()


def texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def stored_sha(attachment) -> str:  # type: ignore[no-untyped-def]
    with open_attachment(attachment) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def exports_of(version) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "export", AuditEntry.entity_id == str(version.id),
        AuditEntry.field == "document_pdf").order_by(AuditEntry.id)))


@pytest.fixture
def team(app, make_user, system_actor):
    seeded(system_actor)
    return people(make_user)


def effective_version(team, study=None, title="Cleaning of the freezer"):  # type: ignore[no-untyped-def]
    author, reviewer, approver, qa = team
    extra = {"study_id": study.id} if study is not None else {}
    document = create_document(author, title=title, type_code="SOP", **extra)
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    add_attachment(version, author, "procedure.pdf", io.BytesIO(original_pdf()))
    add_attachment(version, author, "checklist.txt", io.BytesIO(b"step 1\nstep 2\n"))
    db.session.commit()
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    step(version, "approve", approver, signature=sig())
    step(version, "make_effective", qa)
    return document, version


@pytest.mark.req("ISO-04", "P11-16")
def test_record_page_offers_the_pdf_with_header_manifestations_and_watermark(client, login,
                                                                             team):
    document, version = effective_version(team)
    pdf, text_file = attachments_of(version)
    before = {a.id: (a.sha256, stored_sha(a)) for a in (pdf, text_file)}
    assert before[pdf.id][0] == before[pdf.id][1]
    login(client, "alice")
    page = client.get(f"/admin/documents_version/details/?id={version.id}").get_data(as_text=True)
    assert 'id="documents-pdf-controlled"' in page and 'id="documents-pdf-uncontrolled"' in page
    other = client.get(f"/admin/documents_document/details/?id={document.id}")
    assert 'id="documents-pdf-controlled"' not in other.get_data(as_text=True)

    response = post_with_token(client, f"/documents/versions/{version.id}/pdf",
                               data={"copy": "controlled"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline")
    pages = texts(response.data)
    assert len(pages) == 3  # the cover, then the two original pages
    effective_on = version.effective_at.date().isoformat()
    for number, text in enumerate(pages, start=1):
        assert document.number in text and "Cleaning of the freezer" in text, text
        assert "Version 1.0" in text and f"Effective {effective_on}" in text
        assert "CONTROLLED COPY" in text and "UNCONTROLLED" not in text
        if number > 1:
            assert f"Page {number} of 3" in text
    assert "ORIGINAL PAGE ONE" in pages[1] and "ORIGINAL PAGE TWO" in pages[2]
    cover = pages[0].replace("\n", " ")
    assert "Signature manifestations" in cover
    labels = {"reviewed": "Reviewed by", "approved": "Approved by"}
    manifested = signatures_of(version)
    assert sorted(s.meaning for s in manifested) == ["approved", "reviewed"]
    for s in manifested:  # who, when (UTC) and what it means, on one line of the manifest
        line = (f"{s.printed_name} ({s.username}) {s.signed_at:%Y-%m-%d %H:%M:%S} UTC "
                f"{labels[s.meaning]} {s.record_version} valid")
        assert line in cover, cover
    assert "Rita Tester (rita)" in cover and "Bob Tester (bob)" in cover
    assert " UTC" in cover and "valid" in cover
    assert "checklist.txt" in cover and text_file.sha256 in cover.replace(" ", "")
    assert "pages 2–3" in cover or "pages 2-3" in cover
    # The original pages keep their sizes; the stored files are byte-identical.
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height)))
             for p in PdfReader(io.BytesIO(response.data)).pages]
    assert sizes[1] == (595, 842) and sizes[2] == (792, 612)
    for attachment in (pdf, text_file):
        db.session.refresh(attachment)
        assert (attachment.sha256, stored_sha(attachment)) == before[attachment.id]

    printed = post_with_token(client, f"/documents/versions/{version.id}/pdf",
                              data={"copy": "uncontrolled"})
    assert printed.headers["Content-Disposition"].startswith("attachment")
    assert all("UNCONTROLLED WHEN PRINTED" in text and "CONTROLLED COPY" not in text
               for text in texts(printed.data))

    controlled, uncontrolled = exports_of(version)
    assert controlled.actor_name == "Alice Tester (alice)"
    assert "controlled copy" in controlled.new_value and "3 pages" in controlled.new_value
    assert hashlib.sha256(response.data).hexdigest() in controlled.new_value
    assert hashlib.sha256(printed.data).hexdigest() in uncontrolled.new_value
    assert controlled.entity_version == version.version


@pytest.mark.req("ISO-04")
def test_superseded_and_obsolete_override_the_copy_watermark(app, client, make_user, team):
    author, reviewer, approver, qa = team
    document, first = effective_version(team)
    second = revise(document, author, major=True, change_summary="New step",
                    change_reason="Audit finding")
    db.session.commit()
    add_attachment(second, author, "procedure-v2.pdf", io.BytesIO(original_pdf()))
    db.session.commit()
    for name, user, kwargs in (("submit", author, {}), ("review", reviewer, {"signature": sig()}),
                               ("approve", approver, {"signature": sig()}),
                               ("make_effective", qa, {})):
        step(second, name, user, **kwargs)
    assert first.state == "superseded"
    for copy in ("controlled", "uncontrolled"):
        rendered = render_version_pdf(first, qa, copy)
        assert rendered.watermark == "SUPERSEDED"
        for text in texts(rendered.data):
            assert "SUPERSEDED" in text and "CONTROLLED COPY" not in text
            assert "UNCONTROLLED" not in text and "Version 1.0" in text
    # A superseded version is for holders of documents.view_history only.
    make_user("trish", "trainee")
    make_user("audrey", "auditor")
    url = f"/documents/versions/{first.id}/pdf?copy=uncontrolled"
    assert ApiCaller(client, "trish").get(url).status_code == 404
    served = ApiCaller(client, "audrey").get(url)
    assert served.status_code == 200
    assert all("SUPERSEDED" in t for t in texts(served.data))
    assert [e.actor_name for e in exports_of(first)] == ["Audrey Tester (audrey)"]
    current = texts(render_version_pdf(second, qa, "controlled").data)
    assert all("CONTROLLED COPY" in t and "Version 2.0" in t for t in current)

    step(second, "obsolete", approver, reason="Process retired", signature=sig())
    rendered = render_version_pdf(second, qa, "uncontrolled")
    assert rendered.watermark == "OBSOLETE"
    assert all("OBSOLETE" in t and "UNCONTROLLED" not in t for t in texts(rendered.data))


@pytest.mark.req("P11-16")
def test_invalidated_signatures_are_marked_and_drafts_say_so(app, team):
    author, reviewer, approver, qa = team
    document = create_document(author, title="Freezer alarms", type_code="SOP")
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    add_attachment(version, author, "broken.pdf", io.BytesIO(b"%PDF-1.7\nnot really\n%%EOF\n"))
    db.session.commit()
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    update_record(version, author, expected_version=version.version, reason="Typo",
                  change_summary="Fixed a typo")
    db.session.commit()
    rendered = render_version_pdf(version, author, "controlled")
    cover, = texts(rendered.data)  # the unreadable PDF is listed, not embedded
    flat = cover.replace("\n", " ")
    assert "INVALIDATED" in flat and "Rita Tester (rita)" in flat
    assert "Not effective: in review" in flat and "DRAFT - NOT FOR USE" in flat
    assert "CONTROLLED COPY" not in flat and rendered.watermark == "DRAFT - NOT FOR USE"
    assert "broken.pdf" in flat and "not included" in flat


@pytest.mark.req("ISO-04")
def test_versions_not_yet_effective_are_marked_not_for_use(app, team):
    author, reviewer, approver, _qa = team
    document = create_document(author, title="Freezer defrost", type_code="SOP")
    db.session.commit()
    version = create_version(document, author)
    db.session.commit()
    add_attachment(version, author, "procedure.pdf", io.BytesIO(original_pdf()))
    db.session.commit()
    for state in ("draft", "in_review", "approved"):
        if state == "in_review":
            step(version, "submit", author)
        elif state == "approved":
            step(version, "review", reviewer, signature=sig())
            step(version, "approve", approver, signature=sig())
        assert version.state == state
        for copy in ("controlled", "uncontrolled"):
            rendered = render_version_pdf(version, author, copy)
            pages = texts(rendered.data)
            assert rendered.watermark == "DRAFT - NOT FOR USE" and len(pages) == 3
            for text in pages:  # the cover and each stamped original page
                assert "DRAFT - NOT FOR USE" in text and "CONTROLLED COPY" not in text, text
                assert "UNCONTROLLED" not in text and "Not effective" in text
            assert "ORIGINAL PAGE ONE" in pages[1]


@pytest.mark.req("ISO-04", "P11-16")
def test_api_serves_the_pdf_in_scope_only_and_audits_it(app, client, make_user, login, team):
    study = Study(code="ST-9", title="Study nine")
    other = Study(code="ST-8", title="Study eight")
    db.session.add_all([study, other])
    db.session.commit()
    db.session.add(Site(study=study, code="901", name="Oslo"))
    db.session.commit()
    _document, version = effective_version(team, study=study)
    make_user("insider", "trainee", study=study)
    make_user("outsider", "trainee", study=other)
    make_user("nobody")
    url = f"/documents/versions/{version.id}/pdf"

    insider = ApiCaller(client, "insider")
    response = insider.get(f"{url}?copy=controlled")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert all("CONTROLLED COPY" in t for t in texts(response.data))
    default = insider.get(url)
    assert all("UNCONTROLLED WHEN PRINTED" in t for t in texts(default.data))
    assert insider.get(f"{url}?copy=sometimes").status_code == 400
    assert insider.get("/documents/versions/999999/pdf").status_code == 404
    assert ApiCaller(client, "outsider").get(url).status_code == 404
    assert ApiCaller(client, "nobody").get(url).status_code == 403
    assert [e.actor_name for e in exports_of(version)] == ["Insider Tester (insider)"] * 2
    assert "/api/v1/documents/versions/{version_id}/pdf" in client.get(
        f"{API}/openapi.json").get_json()["paths"]

    # The record page's POST follows the same access rules.
    login(client, "outsider")
    refused = post_with_token(client, url, data={"copy": "controlled"})
    assert refused.status_code == 404
    assert len(exports_of(version)) == 2

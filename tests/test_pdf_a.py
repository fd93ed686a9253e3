"""DI-E (enduring): every PDF the system renders is PDF/A-3b (XMP identification, an sRGB
output intent, every font embedded), written in one place (``core.exports.render``); the JSON
and CSV exports of a record are well-formed and complete. veraPDF (Java) is not installed on the
test machines: these tests check the parts of PDF/A that can be read with pypdf."""

from __future__ import annotations

import ast
import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pytest
from kernel_plugin import make_plugin
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from core import create_record, update_record
from core.db import db
from core.exports.bundle import build_certified_copy
from core.exports.history import audit_text
from core.exports.pdf import render_record_pdf
from core.exports.render import PDF_VARIANT, render_html
from core.testing import post_with_token
from core.validation.inventory import inventory
from core.validation.results import FORMAT

ROOT = Path(__file__).resolve().parent.parent
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


def pdf_a_identification(data: bytes) -> tuple[str, str] | None:
    """(part, conformance) from the PDF's XMP metadata, None when it has no identification."""
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    if "/Metadata" not in root:
        return None
    xmp = ElementTree.fromstring(root["/Metadata"].get_object().get_data())
    for description in xmp.iter(f"{RDF}Description"):
        part = description.get(f"{PDFAID}part") or description.findtext(f"{PDFAID}part")
        if part:
            conformance = (description.get(f"{PDFAID}conformance")
                           or description.findtext(f"{PDFAID}conformance") or "")
            return part, conformance
    return None


def _fonts(resources: DictionaryObject, seen: set[int]) -> list[DictionaryObject]:
    """Every font of ``resources`` and of the form XObjects it uses (recursively)."""
    found = [f.get_object() for f in (resources.get("/Font") or DictionaryObject()).values()]
    for xobject in (resources.get("/XObject") or DictionaryObject()).values():
        ref = getattr(xobject, "idnum", id(xobject))
        form = xobject.get_object()
        if ref in seen or form.get("/Subtype") != "/Form" or "/Resources" not in form:
            continue
        seen.add(ref)
        found += _fonts(form["/Resources"].get_object(), seen)
    return found


def unembedded_fonts(data: bytes) -> list[str]:
    """Names of the fonts whose program is not in the file (Type 3 fonts are glyph procedures
    in the file itself)."""
    missing: set[str] = set()
    fonts_seen = 0
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in _fonts(page["/Resources"].get_object(), set()):
            fonts_seen += 1
            if font.get("/Subtype") == "/Type3":
                continue
            if font.get("/Subtype") == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font.get("/FontDescriptor")
            files = descriptor.get_object().keys() if descriptor is not None else set()
            if not {"/FontFile", "/FontFile2", "/FontFile3"} & set(files):
                missing.add(str(font.get("/BaseFont")))
    assert fonts_seen, "the PDF has no text (nothing to check)"
    return sorted(missing)


def assert_pdf_a(data: bytes) -> None:
    assert data.startswith(b"%PDF")
    assert pdf_a_identification(data) == ("3", "B")
    [intent] = PdfReader(io.BytesIO(data)).trailer["/Root"]["/OutputIntents"]
    intent = intent.get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    assert unembedded_fonts(data) == []


def a_record(make_user):  # type: ignore[no-untyped-def]
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Infusion pump", description="Blue",
                           notes="first")
    db.session.commit()
    update_record(record, alice, expected_version=1, description="Green")
    db.session.commit()
    return record, alice


@pytest.mark.req("DI-E")
def test_the_checks_fail_on_a_plain_pdf():
    """The negative case: WeasyPrint's default output has no PDF/A identification."""
    plain = render_html("<p>Plain</p>").write_pdf(pdf_variant=None)
    assert pdf_a_identification(plain) is None
    assert "/OutputIntents" not in PdfReader(io.BytesIO(plain)).trailer["/Root"]
    archival = render_html("<p>Archival</p>").write_pdf()
    assert PDF_VARIANT == "pdf/a-3b"
    assert_pdf_a(archival)


@pytest.mark.req("DI-E")
@pytest.mark.backends("sqlite", "postgresql")
def test_record_pdfs_and_certified_copies_are_pdf_a(client, login, make_user):
    record, alice = a_record(make_user)
    assert_pdf_a(render_record_pdf(record, alice).data)
    login(client, "alice")
    printed = post_with_token(client, f"{URL}{record.id}/export.pdf")
    assert printed.status_code == 200 and printed.mimetype == "application/pdf"
    assert_pdf_a(printed.data)
    copy = build_certified_copy(record, alice)
    with zipfile.ZipFile(io.BytesIO(copy.data)) as archive:
        assert_pdf_a(archive.read("record.pdf"))


@pytest.mark.req("DI-E")
def test_the_validation_summary_pdf_is_pdf_a(run_cqms, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "format": FORMAT, "finished_at": "2026-12-05T02:00:00+00:00",
        "environment": {"commit": "abc123def4567890", "python": "3.11.2",
                        "implementation": "CPython", "platform": "Linux",
                        "postgresql": "PostgreSQL 15.14", "pytest": "8.3"},
        "inventory": inventory(), "tests": []}))
    pdf = tmp_path / "summary.pdf"
    status, _out, err = run_cqms("validation", "report", "--results", str(results),
                                 "--pdf", str(pdf))
    assert status == 0, err
    assert_pdf_a(pdf.read_bytes())


@pytest.mark.req("DI-E")
@pytest.mark.backends("sqlite", "postgresql")
def test_plugin_pdfs_are_pdf_a(app_factory, make_user, login):
    """The CAPA chain, the audit report and a training record, as printed from their pages."""
    app = app_factory(plugins=["documents", "training", "capa", "audits"])
    with app.app_context():
        client = app.test_client()
        quinn = make_user("quinn", "qa_manager")
        event = create_record("capa_event", quinn, title="Consent on an old ICF version",
                              category="deviation", description="What happened.")
        audit = create_record("audits_audit", quinn, title="Site audit",
                              audit_type="investigator_site", auditee="Site 101 Berlin",
                              scope_text="Consent.", criteria="Protocol v4.",
                              planned_date=date(2027, 3, 1))
        db.session.commit()
        login(client, "quinn")
        for url in (f"/capa/records/{event.id}/chain.pdf",
                    f"/audits/audits/{audit.id}/report.pdf",
                    f"/training/users/{quinn.id}/record.pdf"):
            printed = post_with_token(client, url)
            assert printed.status_code == 200 and printed.mimetype == "application/pdf", url
            assert_pdf_a(printed.data)


def _weasyprint_importers() -> list[str]:
    found = []
    for folder in ("core", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "weasyprint" or n.startswith("weasyprint.") for n in names):
                    found.append(str(path.relative_to(ROOT)))
    return sorted(set(found))


@pytest.mark.req("DI-E")
def test_pdfs_are_rendered_in_one_place():
    """The CAPA chain, the audit report, the training records, the document covers and the
    validation summary use ``render_html``: nothing else lays out a PDF, so nothing bypasses
    the PDF/A default (the URL fetcher lives beside it in core/exports/pdf.py)."""
    assert _weasyprint_importers() == ["core/exports/pdf.py", "core/exports/render.py"]


@pytest.mark.req("DI-E")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_records_json_and_csv_exports_are_well_formed_and_complete(client, login, make_user):
    record, alice = a_record(make_user)
    copy = build_certified_copy(record, alice)
    with zipfile.ZipFile(io.BytesIO(copy.data)) as archive:
        current = json.loads(archive.read("record.json"))  # well-formed: it parses
        versions = json.loads(archive.read("versions.json"))
    columns = [attr.key for attr in record.__mapper__.column_attrs]
    assert current["fields"] == {name: audit_text(record, name) for name in columns}
    assert current["record"]["number"] == record.number
    assert current["changed_since_original_entry"]["fields"] == {"description": 1}
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["values"]["description"] == "Blue"

    login(client, "alice")
    response = post_with_token(client, f"{URL}export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body, newline="")))
    header, data_rows = rows[0], rows[1:]
    assert len(data_rows) == 1 and len(data_rows[0]) == len(header)  # rectangular
    row = dict(zip(header, data_rows[0], strict=True))
    assert row["Title"] == "Infusion pump"
    assert record.number in row.values()
    assert all(name for name in header)

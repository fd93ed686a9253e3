"""``cqms demo`` loads demo documents through the core's ``load_demo_data`` hook, idempotently."""

from __future__ import annotations

import pytest
import test_cli
from test_cli import PASSWORD, query

cqms = test_cli.cqms  # the fixture of the CLI tests

STATES = """SELECT r.number, r.state FROM core_record r JOIN documents_version v ON v.id = r.id
ORDER BY r.number"""


@pytest.mark.req("ISO-01", "ISO-04")
def test_demo_loads_documents_in_various_states_once(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert "documents: 5 demo documents created, 0 already present" in out
    states = dict(query(cqms, STATES))
    assert states == {
        "SOP-0001-v1.0": "superseded", "SOP-0001-v2.0": "effective",
        "SOP-0002-v1.0": "effective", "SOP-0002-v1.1": "in_review",
        "SOP-0003-v1.0": "draft",
        "PLAN-0001-v1.0": "effective", "PLAN-0002-v1.0": "in_review"}
    files = query(cqms, "SELECT filename, media_type FROM core_attachment ORDER BY id")
    assert len(files) == 7 and {media for _name, media in files} == {"application/pdf"}
    plans = query(cqms, "SELECT count(*) FROM core_record r JOIN documents_document d "
                        "ON d.id = r.id WHERE r.study_id IS NOT NULL")
    assert plans[0][0] == 2

    status, out, err = cqms("demo")
    assert status == 0, err
    assert "documents: 0 demo documents created, 5 already present" in out
    assert dict(query(cqms, STATES)) == states
    status, out, err = cqms("audit", "verify")
    assert status == 0, out + err


def test_demo_with_generated_passwords_then_with_none_known(cqms):  # noqa: F811
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0 and "documents: 5 demo documents created" in out, err
    before = dict(query(cqms, STATES))
    assert before["SOP-0001-v2.0"] == "effective" and before["SOP-0001-v1.0"] == "superseded"
    (cqms.instance / "demo-passwords.txt").unlink()  # passwords no longer known
    status, out, err = cqms("demo")
    assert status == 0 and "documents: 0 demo documents created, 5 already present" in out
    assert dict(query(cqms, STATES)) == before


def test_generated_demo_pdf_is_valid():
    import io

    from pypdf import PdfReader

    from plugins.documents.demo import pdf_bytes

    reader = PdfReader(io.BytesIO(pdf_bytes("SOP-0001 Control (of) documents", "Version 1.0")),
                       strict=True)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "SOP-0001 Control (of) documents" in text and "Version 1.0" in text

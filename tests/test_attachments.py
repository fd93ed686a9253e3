"""Immutable attachments: checked uploads, server names, SHA-256 on write and on every read.

Uploads are refused (nothing written, no row, no file) when too large, of a type the content
does not prove, or named/declared as something else than they are. A stored file that is
altered or removed behind the application's back is found by ``open_attachment``, by the
download route (409) and by ``cqms audit verify`` (exit 1, naming the attachment and record).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from config import ConfigError, load_config
from core import (
    ConflictError,
    CQMSError,
    ValidationError,
    add_attachment,
    attachments_of,
    create_record,
    open_attachment,
    transition,
)
from core.attachments import sniff, storage
from core.attachments.models import Attachment
from core.attachments.service import AttachmentIntegrityError
from core.audit.models import AuditEntry
from core.db import db
from core.testing import login, triggers_bypassed

BOTH = pytest.mark.backends("sqlite", "postgresql")

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(40))
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x00\x10\x00\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50) + b"PE\x00\x00L\x01"
TEXT = "Zürich, 3 µg — résumé\n".encode()
CSV = b"subject,visit,result\n001,V1,ok\n"
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
EXCEL_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
WORD_MACRO_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def package(main_type: str, part: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal OOXML package: ``[Content_Types].xml`` declaring ``part`` as ``main_type``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/content-types"><Override PartName="/{part}" ContentType="{main_type}"/>'
            "</Types>"))
        z.writestr(part, "<document/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


DOCX = package(WORD_MAIN, "word/document.xml")
XLSX = package(EXCEL_MAIN, "xl/workbook.xml")
DOCM = package(WORD_MACRO_MAIN, "word/document.xml", {"word/vbaProject.bin": b"\x00" * 64})
DOCX_WITH_MACROS = package(WORD_MAIN, "word/document.xml", {"word/vbaProject.bin": b"\x00" * 64})
PLAIN_ZIP = package("application/xml", "data.xml")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def people(app, make_user):
    return {
        "alice": make_user("alice", "author"),  # creates and owns the widget
        "bob": make_user("bob", "author"),  # holds the widget type's view permission
        "tess": make_user("tess", "trainee"),  # unrelated to widgets
        "quinn": make_user("quinn", "qa_manager"),  # holds core.audit.view
    }


@pytest.fixture
def widget(people):
    record = create_record("acme_widget", people["alice"], title="Widget", description="Blue")
    db.session.commit()
    return record


def folder(app) -> Path:
    return Path(app.instance_path) / "attachments"


def stored_files(app) -> list[Path]:
    return sorted(p for p in folder(app).rglob("*") if p.is_file())


def attachment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment))


def attach(widget, user, data=PDF, name="report.pdf", **kwargs) -> Attachment:
    attachment = add_attachment(widget, user, name, io.BytesIO(data), **kwargs)
    db.session.commit()
    return attachment


def tamper(attachment, data: bytes = b"forged") -> Path:
    path = storage.path_of(attachment.storage_name)
    path.chmod(0o640)
    path.write_bytes(data)
    return path


def assert_refused(app, call, field="file") -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        call()
    db.session.rollback()
    assert field in refused.value.errors
    assert attachment_count() == 0
    assert stored_files(app) == []  # nothing written: not in place, not half-received
    return refused.value


# --------------------------------------------------------------------------------------------
# Storing


@pytest.mark.req("SEC-11", "DI-O")
def test_upload_is_stored_under_a_server_name_with_its_sha256(app, people, widget):
    attachment = attach(widget, people["alice"], name="Batch record.pdf")
    assert attachment.media_type == "application/pdf"
    assert attachment.size == len(PDF)
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.filename == "Batch record.pdf"
    assert attachment.uploaded_by_id == people["alice"].id
    assert attachment.record_version == widget.version
    assert attachment.uploaded_at.tzinfo is not None
    assert re.fullmatch(r"[0-9a-f]{40}", attachment.storage_name)
    [path] = stored_files(app)
    assert path == folder(app) / attachment.storage_name[:2] / attachment.storage_name
    assert "Batch" not in str(path) and path.suffix == ""
    assert path.read_bytes() == PDF
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0  # read-only
    assert attachments_of(widget) == [attachment]


@pytest.mark.req("SEC-11")
@pytest.mark.parametrize(("raw", "shown"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\eve\\Desktop\\notes.txt", "notes.txt"),
    ("invoice\u202etxt.exe.txt", "invoicetxt.exe.txt"),  # no right-to-left override
    ("a\x00b\r\nc.txt", "abc.txt"),
    ('<script>"x"|y?.txt', "_script__x__y_.txt"),
    ("  ..hidden.txt  ", "hidden.txt"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("x" * 300 + ".txt", "x" * 251 + ".txt"),
])
def test_file_names_are_cleaned_for_display_and_never_used_for_storage(
        app, people, widget, raw, shown):
    attachment = attach(widget, people["alice"], TEXT, raw)
    assert attachment.filename == shown
    assert storage.path_of(attachment.storage_name).name == attachment.storage_name


@pytest.mark.req("SEC-11", "DI-O")
def test_a_new_upload_is_a_new_row_and_rows_never_change(app, people, widget):
    first = attach(widget, people["alice"], PDF, "protocol.pdf")
    second = attach(widget, people["alice"], PDF + b"% v2\n", "protocol.pdf")
    assert first.id != second.id and first.storage_name != second.storage_name
    assert [a.id for a in attachments_of(widget)] == [first.id, second.id]
    assert storage.path_of(first.storage_name).read_bytes() == PDF  # the original is kept
    first.filename = "renamed.pdf"
    with pytest.raises(ConflictError, match="immutable"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(second)
    with pytest.raises(ConflictError, match="never deleted"):
        db.session.flush()
    db.session.rollback()
    assert attachment_count() == 2


@pytest.mark.req("SEC-11", "DI-O")
def test_upload_is_audited_as_the_uploader_with_the_record_event(app, people, widget):
    attachment = attach(widget, people["alice"], reason="Signed copy from site 01")
    rows = list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_attachment", AuditEntry.entity_id == str(attachment.id))))
    fields = {row.field: row.new_value for row in rows}
    assert fields["sha256"] == attachment.sha256
    assert fields["storage_name"] == attachment.storage_name
    assert fields["record_id"] == f"{widget.number} (#{widget.id})"
    assert {row.action for row in rows} == {"create"}
    assert {row.actor_id for row in rows} == {people["alice"].id}
    [event] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "attachment.added"))
    assert (event.entity_type, event.entity_id) == ("acme_widget", str(widget.id))
    assert event.actor_id == people["alice"].id
    assert event.reason == "Signed copy from site 01"
    assert attachment.sha256 in event.new_value and "report.pdf" in event.new_value


def test_past_draft_adding_a_file_needs_a_reason(app, people, widget):
    transition(widget, "submit", people["alice"])
    db.session.commit()
    assert_refused(app, lambda: add_attachment(widget, people["alice"], "a.pdf", PDF),
                   field="reason")
    attachment = attach(widget, people["alice"], reason="Reviewer asked for the raw data")
    assert attachment.record_version == widget.version


# --------------------------------------------------------------------------------------------
# Refusals: size and type, with nothing written


class Endless:
    """A stream that never ends; counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        self.read_bytes += size
        return b"a" * size


@pytest.mark.req("SEC-11")
def test_size_limit_refuses_without_writing_and_stops_reading(app, people, widget):
    app.config["ATTACHMENT_MAX_BYTES"] = 1024
    error = assert_refused(app, lambda: add_attachment(widget, people["alice"], "big.txt",
                                                       b"a" * 1025))
    assert "1024 bytes" in error.errors["file"]
    stream = Endless()
    assert_refused(app, lambda: add_attachment(widget, people["alice"], "big.txt", stream))
    assert stream.read_bytes <= 1024 + storage.CHUNK  # streamed, not read whole
    assert attach(widget, people["alice"], b"a" * 1024, "exact.txt").size == 1024


@pytest.mark.req("SEC-11")
@pytest.mark.parametrize(("data", "name", "declared", "expected"), [
    (PDF, "a.pdf", "application/pdf", "application/pdf"),
    (PNG, "scan.PNG", "image/png", "image/png"),
    (JPEG, "photo.jpeg", "image/pjpeg", "image/jpeg"),
    (TEXT, "notes.txt", "text/plain; charset=utf-8", "text/plain"),
    (b"\xef\xbb\xbfwith BOM\n", "bom.txt", None, "text/plain"),
    (CSV, "results.csv", "application/vnd.ms-excel", "text/csv"),  # what Windows sends
    (DOCX, "SOP.docx", "application/octet-stream", sniff.DOCX),
    (XLSX, "log.xlsx", None, sniff.XLSX),
])
def test_media_type_comes_from_the_content(app, people, widget, data, name, declared, expected):
    attachment = attach(widget, people["alice"], data, name, declared_type=declared)
    assert attachment.media_type == expected


@pytest.mark.req("SEC-11")
@pytest.mark.parametrize(("data", "name", "declared", "message"), [
    (PNG, "report.pdf", None, "does not match its content"),
    (PDF, "report.pdf", "image/png", "sent as image/png"),
    (ELF, "tool.pdf", None, "not accepted"),
    (ELF, "notes.txt", None, "not accepted"),
    (EXE, "setup.exe", "application/x-msdownload", "not accepted"),
    (EXE, "report.pdf", None, "not accepted"),
    (TEXT, "page.html", "text/html", "does not match its content"),
    (TEXT, "run.bat", None, "does not match its content"),
    (TEXT, "README", None, "does not match its content"),
    (TEXT, "notes.txt", "text/html", "sent as text/html"),
    (CSV, "results.txt", "text/csv", "sent as text/csv"),
    ("Zürich".encode("latin-1"), "latin1.txt", None, "not accepted"),
    (b"text with a \x00 NUL", "nul.txt", None, "not accepted"),
    (DOCM, "macros.docx", None, "not accepted"),
    (DOCX_WITH_MACROS, "macros.docx", None, "not accepted"),
    (PLAIN_ZIP, "archive.docx", None, "not accepted"),
    (b"PK\x03\x04broken", "broken.xlsx", None, "not accepted"),
    (XLSX, "sheet.docx", None, "does not match its content"),
    (b"", "empty.txt", None, "empty"),
])
def test_contradicting_or_unknown_content_is_refused(app, people, widget, data, name, declared,
                                                      message):
    error = assert_refused(app, lambda: add_attachment(widget, people["alice"], name,
                                                       io.BytesIO(data), declared))
    assert message in error.errors["file"]


@pytest.mark.req("SEC-11")
def test_only_allow_listed_types_are_accepted(app, people, widget):
    app.config["ATTACHMENT_TYPES"] = ["application/pdf"]
    error = assert_refused(app, lambda: add_attachment(widget, people["alice"], "a.png", PNG))
    assert "accepted: .pdf" in error.errors["file"]
    assert attach(widget, people["alice"]).media_type == "application/pdf"


def test_a_file_needs_a_usable_name(app, people, widget):
    assert_refused(app, lambda: add_attachment(widget, people["alice"], " /\u202e. ", PDF))


# --------------------------------------------------------------------------------------------
# No file without its row


@pytest.mark.req("DI-O")
def test_rollback_removes_the_stored_file(app, people, widget):
    add_attachment(widget, people["alice"], "a.pdf", PDF)
    assert len(stored_files(app)) == 1
    db.session.rollback()
    assert stored_files(app) == [] and attachment_count() == 0


@pytest.mark.req("DI-O")
def test_a_rolled_back_savepoint_removes_its_file_and_the_outer_commit_keeps_the_others(
        app, people, widget):
    kept = add_attachment(widget, people["alice"], "kept.pdf", PDF)
    savepoint = db.session.begin_nested()
    add_attachment(widget, people["alice"], "dropped.pdf", PDF + b"%2\n")
    assert len(stored_files(app)) == 2
    savepoint.rollback()
    db.session.commit()
    assert stored_files(app) == [storage.path_of(kept.storage_name)]
    assert [a.filename for a in attachments_of(widget)] == ["kept.pdf"]


def test_a_released_savepoint_keeps_its_file_only_if_the_outer_transaction_commits(
        app, people, widget):
    with db.session.begin_nested():
        attachment = add_attachment(widget, people["alice"], "a.pdf", PDF)
    db.session.commit()
    assert stored_files(app) == [storage.path_of(attachment.storage_name)]
    with db.session.begin_nested():
        add_attachment(widget, people["alice"], "b.pdf", PDF + b"%2\n")
    assert len(stored_files(app)) == 2
    db.session.rollback()  # ... but not when it rolls back
    assert stored_files(app) == [storage.path_of(attachment.storage_name)]


def test_a_session_closed_without_commit_leaves_no_file(app, people, widget):
    add_attachment(widget, people["alice"], "a.pdf", PDF)
    db.session.remove()
    assert stored_files(app) == []


# --------------------------------------------------------------------------------------------
# Verification on read, on download and by the integrity job


@pytest.mark.req("SEC-11", "P11-01", "ISO-06")
@BOTH
def test_open_attachment_verifies_the_sha256(app, people, widget, cqms_backend):
    attachment = attach(widget, people["alice"])
    with open_attachment(attachment) as fh:
        assert fh.read() == PDF
    tamper(attachment, PDF.replace(b"1.7", b"1.6"))  # same size, other content
    with pytest.raises(AttachmentIntegrityError, match=f"attachment {attachment.id}.*altered"):
        open_attachment(attachment)
    storage.path_of(attachment.storage_name).unlink()
    with pytest.raises(CQMSError, match="missing"):
        open_attachment(attachment)


@pytest.fixture
def cqms_verify(app, capsys):
    """``cqms audit verify`` against the test app (its plugins included); (status, output)."""
    from core.cli import build_cli

    def run() -> tuple[int, str]:
        db.session.commit()
        capsys.readouterr()
        try:
            build_cli(app).main(args=["audit", "verify"], prog_name="cqms",
                                standalone_mode=False, obj=app)
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out + err

    return run


@pytest.mark.req("P11-01", "A11-06", "ISO-06", "DI-O")
@BOTH
def test_audit_verify_reports_altered_and_missing_files_by_attachment_and_record(
        app, people, widget, cqms_verify, cqms_backend):
    altered = attach(widget, people["alice"], PDF, "altered.pdf")
    missing = attach(widget, people["alice"], PNG, "missing.png")
    intact = attach(widget, people["alice"], TEXT, "intact.txt")
    status, out = cqms_verify()
    assert status == 0, out
    tamper(altered, PDF + b"% appended\n")
    storage.path_of(missing.storage_name).unlink()
    status, out = cqms_verify()
    assert status == 1
    assert (f"core_attachment {altered.id} (record {widget.id} {widget.number}, altered.pdf): "
            "the stored file was altered") in out
    assert f"core_attachment {missing.id} (record {widget.id} {widget.number}, missing.png): " \
           "the stored file is missing" in out
    assert f"core_attachment {intact.id} " not in out


@pytest.mark.req("P11-01", "A11-06")
@BOTH
def test_audit_verify_finds_a_file_replaced_together_with_its_row(
        app, people, widget, cqms_verify, cqms_backend):
    """A rogue administrator swaps the file and rewrites sha256/size in SQL to match."""
    attachment = attach(widget, people["alice"])
    forged = b"%PDF-1.7\nforged\n%%EOF\n"
    tamper(attachment, forged)
    rewrite = text("UPDATE core_attachment SET sha256 = :h, size = :s WHERE id = :i")
    values = {"h": hashlib.sha256(forged).hexdigest(), "s": len(forged), "i": attachment.id}
    with pytest.raises(DBAPIError, match="core_attachment is append-only"):
        db.session.execute(rewrite, values)  # the database itself refuses
    db.session.rollback()
    with triggers_bypassed("core_attachment") as conn:  # unless its administrator drops that
        conn.execute(rewrite, values)
    status, out = cqms_verify()
    assert status == 1
    assert f"core_attachment {attachment.id} " in out
    for field in ("size", "sha256"):  # the row reconciler names each rewritten column
        assert (f"core_attachment {attachment.id} (record {widget.number}): field {field}: "
                in out)
    assert "in the audit trail (changed outside the application)" in out


# --------------------------------------------------------------------------------------------
# Download


def download(client, attachment_id, **kwargs):
    return client.get(f"/files/{attachment_id}", **kwargs)


@pytest.mark.req("SEC-11")
def test_download_is_an_attachment_with_nosniff_and_the_stored_type(app, client, people, widget):
    attachment = attach(widget, people["alice"], TEXT, "Prüfbericht «final».txt")
    login(client, "alice")
    response = download(client, attachment.id)
    assert response.status_code == 200
    assert response.data == TEXT
    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(TEXT))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''Pr%C3%BCfbericht%20%C2%ABfinal%C2%BB.txt" in disposition
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.req("SEC-11", "SEC-01")
def test_download_access(app, client, people, widget):
    attachment = attach(widget, people["alice"])
    anonymous = download(client, attachment.id)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for username, own, unknown in (("alice", 200, 403), ("quinn", 200, 404), ("bob", 200, 403),
                                   ("tess", 403, 403)):
        other = app.test_client()
        login(other, username)
        assert download(other, attachment.id).status_code == own, username
        assert download(other, attachment.id + 99).status_code == unknown, username
    api = app.test_client()
    login(api, "tess")
    refused = download(api, attachment.id, headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"


@pytest.mark.req("SEC-11", "P11-01", "ISO-06")
def test_download_of_an_altered_file_is_refused_with_409(app, client, people, widget):
    attachment = attach(widget, people["alice"])
    tamper(attachment)
    login(client, "alice")
    response = download(client, attachment.id)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "failed its integrity check" in page
    assert attachment.storage_name not in page and "sha" not in page.lower()
    assert response.headers.get("Content-Disposition") is None
    storage.path_of(attachment.storage_name).unlink()
    assert download(client, attachment.id).status_code == 409


# --------------------------------------------------------------------------------------------
# Configuration


def test_attachment_configuration_is_checked():
    base = {"ENV": "testing"}
    with pytest.raises(ConfigError, match=r"^ATTACHMENT_MAX_BYTES: must be at least 1"):
        load_config({**base, "ATTACHMENT_MAX_BYTES": 0}, environ={})
    with pytest.raises(ConfigError, match=r"^ATTACHMENT_TYPES: unsupported media type 'text/html'"):
        load_config({**base, "ATTACHMENT_TYPES": ["application/pdf", "text/html"]}, environ={})
    with pytest.raises(ConfigError, match=r"^ATTACHMENT_DIR: .* is not a folder"):
        load_config({**base, "ATTACHMENT_DIR": __file__}, environ={})
    config = load_config(base, environ={"CQMS_ATTACHMENT_TYPES": "application/pdf, image/png",
                                        "CQMS_ATTACHMENT_MAX_BYTES": "1000"})
    assert config["ATTACHMENT_TYPES"] == ["application/pdf", "image/png"]
    assert config["ATTACHMENT_MAX_BYTES"] == 1000
    defaults = load_config(base, environ={})
    assert defaults["ATTACHMENT_MAX_BYTES"] == 25 * 1024 * 1024
    assert set(defaults["ATTACHMENT_TYPES"]) == set(sniff.EXTENSIONS)


def test_attachment_dir_setting_is_used(app, people, widget, tmp_path):
    target = tmp_path / "vault"
    app.config["ATTACHMENT_DIR"] = str(target)
    attachment = attach(widget, people["alice"])
    assert storage.path_of(attachment.storage_name).parent.parent == target
    assert (target / attachment.storage_name[:2] / attachment.storage_name).read_bytes() == PDF
    assert not folder(app).exists()


def test_sniffer_knows_every_configurable_type():
    from config import ATTACHMENT_MEDIA_TYPES

    assert set(sniff.EXTENSIONS) == ATTACHMENT_MEDIA_TYPES
    assert not os.path.isabs(sniff.clean_filename("/etc/passwd"))


# --------------------------------------------------------------------------------------------
# Files are part of the signed content


@pytest.mark.req("P11-15", "DI-C2")
def test_a_file_added_after_signing_invalidates_the_signature(app, people, widget, make_user):
    from core import SignatureRequest, attest, signatures_of, transition
    from core.testing import DEFAULT_PASSWORD

    approver = make_user("avery", "approver")
    attest(approver, DEFAULT_PASSWORD)
    first = attach(widget, people["alice"])
    assert first.record_version == widget.version
    transition(widget, "submit", people["alice"])
    transition(widget, "approve", approver, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    signed_hash = widget.content_hash
    [signature] = signatures_of(widget, valid_only=True)
    assert signature.content_hash == signed_hash
    with pytest.raises(ValidationError) as refused:
        add_attachment(widget, people["alice"], "late.pdf", io.BytesIO(PDF))
    assert "reason" in refused.value.errors
    db.session.rollback()
    attach(widget, people["alice"], name="late.pdf", reason="Missing annex")
    assert widget.content_hash != signed_hash
    assert signatures_of(widget, valid_only=True) == []
    [entry] = [e for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.field == "attachments_digest", AuditEntry.entity_id == str(widget.id),
        AuditEntry.action == "update"))][-1:]
    assert entry.reason == "Missing annex"


@pytest.mark.req("P11-01", "DI-C")
@BOTH
def test_audit_verify_finds_an_attachment_row_removed_in_sql(
        app, people, widget, cqms_verify, cqms_backend):
    kept = attach(widget, people["alice"])
    removed = attach(widget, people["alice"], data=PNG, name="scan.png")
    removed_id = removed.id  # read before the rogue connection takes the (SQLite) write lock
    assert cqms_verify()[0] == 0
    with triggers_bypassed("core_attachment") as conn:
        conn.execute(text("DELETE FROM core_attachment WHERE id = :i"), {"i": removed_id})
    status, out = cqms_verify()
    assert status == 1
    assert f"core_record {widget.id} ({widget.number}): its attachments are not those" in out
    assert f"core_attachment {kept.id} " not in out

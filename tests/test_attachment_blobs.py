"""Attachments kept in the database (ATTACHMENT_STORAGE = "database", issue 13): every web node
reads the same files without a shared folder; written and rolled back with their row, read
back in chunks and checked against the SHA-256, append-only, verified by `cqms audit verify`."""

from __future__ import annotations

import io
import os

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from config import ConfigError, load_config
from core import create_record
from core.attachments import blobs
from core.attachments.models import AttachmentBlob
from core.attachments.service import AttachmentIntegrityError, add_attachment, open_attachment
from core.audit.verify import verify
from core.db import db
from core.testing import login, triggers_bypassed

BOTH = pytest.mark.backends("sqlite", "postgresql")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BLOBS = AttachmentBlob.__table__


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
            "ATTACHMENT_STORAGE": "database"}


@pytest.fixture
def widget(app, make_user):
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Widget")
    db.session.commit()
    return record, alice


def folder_files(app) -> list:
    root = os.path.join(app.instance_path, "attachments")
    return [name for _dir, _sub, names in os.walk(root) for name in names]


def blob_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AttachmentBlob))


@BOTH
def test_a_file_is_stored_in_the_database_and_read_back_checked(app, widget, cqms_backend):
    record, alice = widget
    big = PDF + b"%" + b"x" * (blobs.CHUNK * 2 + 123) + b"\n"  # three chunks
    attachment = add_attachment(record, alice, "big.pdf", io.BytesIO(big))
    db.session.commit()
    assert folder_files(app) == []  # nothing in the node's folder
    with open_attachment(attachment) as fh:
        assert fh.read() == big
    db.session.commit()  # (SQLite: the read holds the write lock)
    with db.engine.connect() as conn:
        assert verify(conn, reconcilers=app.extensions["cqms"].reconcilers).ok


def test_a_stored_file_downloads_whole_with_its_length(app, client, widget):
    record, alice = widget
    data = PDF + b"%" + b"y" * (blobs.CHUNK + 7) + b"\n"
    attachment = add_attachment(record, alice, "two-chunks.pdf", io.BytesIO(data))
    db.session.commit()
    login(client, "alice")
    response = client.get(f"/files/{attachment.id}")
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Length"] == str(len(data))


@BOTH
def test_a_rolled_back_upload_leaves_no_blob(app, widget, cqms_backend):
    record, alice = widget
    add_attachment(record, alice, "a.pdf", io.BytesIO(PDF))
    db.session.rollback()
    assert blob_count() == 0


@BOTH
def test_blobs_are_append_only_and_an_altered_or_missing_blob_is_found(app, widget, cqms_backend):
    record, alice = widget
    altered = add_attachment(record, alice, "altered.pdf", io.BytesIO(PDF))
    missing = add_attachment(record, alice, "missing.pdf", io.BytesIO(PDF + b"\n"))
    db.session.commit()
    names = altered.storage_name, missing.storage_name
    with pytest.raises(DBAPIError, match="core_attachment_blob is append-only"):
        db.session.execute(update(AttachmentBlob).values(content=b"forged"))
    db.session.rollback()
    with triggers_bypassed("core_attachment_blob") as conn:
        conn.execute(update(BLOBS).where(BLOBS.c.storage_name == names[0])
                     .values(content=PDF.replace(b"1.7", b"1.6")))
        conn.execute(text("DELETE FROM core_attachment_blob WHERE storage_name = :n"),
                     {"n": names[1]})
    with pytest.raises(AttachmentIntegrityError, match="altered"):
        open_attachment(altered)
    with pytest.raises(AttachmentIntegrityError, match="missing"):
        open_attachment(missing)
    db.session.rollback()
    with db.engine.connect() as conn:
        report = verify(conn, reconcilers=app.extensions["cqms"].reconcilers)
    lines = [f.line() for f in report.findings]
    assert any(f"core_attachment {altered.id} " in line and "altered or replaced" in line
               for line in lines), lines
    assert any(f"core_attachment {missing.id} " in line and "stored file is missing" in line
               for line in lines), lines


@BOTH
def test_files_stored_in_the_folder_before_the_switch_are_still_read(app, widget, cqms_backend):
    record, alice = widget
    app.config["ATTACHMENT_STORAGE"] = "folder"
    before = add_attachment(record, alice, "before.pdf", io.BytesIO(PDF))
    db.session.commit()
    app.config["ATTACHMENT_STORAGE"] = "database"
    after = add_attachment(record, alice, "after.pdf", io.BytesIO(PDF + b"\n"))
    db.session.commit()
    assert len(folder_files(app)) == 1 and blob_count() == 1
    for attachment in (before, after):
        with open_attachment(attachment) as fh:
            assert fh.read().startswith(PDF)


def test_an_unknown_storage_stops_start_up_with_one_line():
    with pytest.raises(ConfigError,
                       match="^ATTACHMENT_STORAGE: must be 'folder', 'database' or 's3'"):
        load_config(environ={"CQMS_ATTACHMENT_STORAGE": "ftp"})

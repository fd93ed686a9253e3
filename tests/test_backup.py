"""Back-ups proven by a test restore (Annex 11 §7.2): cqms backup create / verify."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from kernel_plugin import make_plugin

from core import SignatureRequest, add_attachment, attest, create_record, transition
from core.db import db
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.req("A11-07", "E6-20")  # E6-20: back-ups proven by a restore
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def signed_widget(app, make_user):
    alice = make_user("alice", "author")
    bob = make_user("bob", "approver")
    attest(bob, DEFAULT_PASSWORD)
    widget = create_record("acme_widget", alice, title="Pump", description="Blue")
    add_attachment(widget, alice, "spec.pdf", PDF)
    transition(widget, "submit", alice)
    transition(widget, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    return widget


@pytest.mark.backends("sqlite", "postgresql")
def test_a_backup_restores_into_a_scratch_database_and_verifies(run_cqms, tmp_path,
                                                                signed_widget):
    folder = tmp_path / "backup"
    status, out, err = run_cqms("backup", "create", str(folder))
    assert status == 0, err
    assert "1 stored files" in out and "integrity key not included" in out
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not any("integrity" in name for name in manifest["files"])
    status, out, err = run_cqms("backup", "verify", str(folder))
    assert status == 0, out + err
    assert out.startswith("OK back-up of ") and "1 stored files" in out
    assert f"head seq {manifest['audit_head_seq']}" in out


def test_a_changed_file_in_the_backup_is_found(run_cqms, tmp_path, signed_widget):
    folder = tmp_path / "backup"
    assert run_cqms("backup", "create", str(folder))[0] == 0
    [stored] = [p for p in (folder / "files").rglob("*") if p.is_file()]
    stored.write_bytes(PDF.replace(b"Catalog", b"Catalug"))
    status, out, _ = run_cqms("backup", "verify", str(folder))
    assert status == 1 and out.startswith("FAILED changed file files/")


def test_a_database_edited_in_the_backup_is_found_even_with_a_forged_manifest(
        run_cqms, tmp_path, signed_widget):
    folder = tmp_path / "backup"
    assert run_cqms("backup", "create", str(folder))[0] == 0
    database = folder / "database.sqlite3"
    conn = sqlite3.connect(database)
    with conn:
        conn.execute("UPDATE acme_widget SET description = 'Red'")
    conn.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["database.sqlite3"] = hashlib.sha256(database.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    status, out, _ = run_cqms("backup", "verify", str(folder))
    assert status == 1 and out.startswith("FAILED ") and signed_widget.number in out


@pytest.mark.req("SEC-13")
def test_bad_folders_are_one_readable_line(run_cqms, tmp_path, signed_widget):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    status, _, err = run_cqms("backup", "create", str(tmp_path / "busy"))
    assert status == 2 and "is not an empty folder" in err and err.count("\n") == 1
    status, _, err = run_cqms("backup", "verify", str(tmp_path / "busy"))
    assert status == 2 and "not a CQMS back-up" in err and err.count("\n") == 1

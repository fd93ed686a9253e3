"""Exports: the record PDF, certified copies verified offline, and audited CSV of admin lists."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from kernel_plugin import WORKFLOW, AcmeWidget, make_plugin
from marshmallow import Schema, fields
from pypdf import PdfReader
from sqlalchemy import select, text

from core import (
    Permission,
    RecordType,
    RoleTemplate,
    SignatureRequest,
    add_attachment,
    attest,
    create_record,
    link_records,
    transition,
    update_record,
)
from core.admin.base import CQMSModelView, is_secret_column
from core.attachments import storage
from core.attachments.models import Attachment
from core.audit.models import AuditEntry
from core.cli import main
from core.db import db
from core.exports.bundle import CertifiedCopyRefused, build_certified_copy
from core.exports.pdf import DataOnlyFetcher, render_record_pdf
from core.integrity import key_path
from core.records.models import Record
from core.signatures.models import Signature
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD, csrf_token, post_with_token, triggers_bypassed

URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widget(app, make_user):
    """WID-...-0001 through a full life: edited, a file, a link, approved (signature later
    invalidated by a second file) and retired (a valid signature)."""
    alice = make_user("alice", "author")
    bob = make_user("bob", "approver")
    record = create_record("acme_widget", alice, title="Infusion pump", description="Blue",
                           notes="first")
    db.session.commit()
    update_record(record, alice, expected_version=1, description="Green")
    add_attachment(record, alice, "spec.txt", io.BytesIO(b"pump specification\n"))
    other = create_record("acme_widget", alice, title="Supplier audit", description="x")
    link_records(record, other, "addresses", alice)
    transition(record, "submit", alice)
    db.session.commit()
    attest(bob, DEFAULT_PASSWORD)
    transition(record, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    add_attachment(record, alice, "annex.txt", io.BytesIO(b"annex\n"), reason="Annex was missing")
    db.session.commit()
    transition(record, "retire", bob, reason="Replaced by model B",
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    return record


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    """Text without whitespace: table cells wrap long values at any point."""
    return re.sub(r"\s+", "", text)


def exports_of(record: Record) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "export", AuditEntry.entity_id == str(record.id)
    ).order_by(AuditEntry.id)))


# -- PDF ----------------------------------------------------------------------------------------


@pytest.mark.req("P11-02", "P11-16", "A11-08", "E6-16", "P11-07")
@pytest.mark.backends("sqlite", "postgresql")
def test_record_pdf_shows_header_footer_signatures_and_history(client, login, widget):
    login(client, "bob")
    page = client.get(f"{URL}details/?id={widget.id}").get_data(as_text=True)
    assert 'id="export-pdf"' in page and 'id="export-certified-copy"' in page
    response = post_with_token(client, f"{URL}{widget.id}/export.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pages = pdf_text(response.data)
    total = len(pages)
    assert total >= 2
    for number, page_text in enumerate(pages, start=1):
        assert widget.number in page_text and f"version {widget.version}" in page_text  # header
        assert f"page {number} of {total}" in page_text  # footer counters
        assert re.search(r"Printed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by Bob Tester", page_text)
    whole = "\n".join(pages)
    compact = squeezed(whole)
    approve, retire = db.session.scalars(select(Signature).order_by(Signature.id)).all()
    for sig in (approve, retire):  # 11.50: printed name, date and time with zone, meaning
        assert squeezed(f"{sig.printed_name} ({sig.username})"
                        f"{sig.signed_at:%Y-%m-%d %H:%M:%S} UTC Approved by (approved)") in compact
    assert squeezed(f"INVALIDATED {approve.invalidated_at:%Y-%m-%d %H:%M:%S} UTC: signed content "
                    "changed") in compact
    assert compact.count("INVALIDATED") == 1
    for version in range(1, widget.version + 1):
        assert f"Version {version}" in whole
    assert "Changed since original entry: yes" in whole
    assert re.search(r"Description\s+Green\s+yes \(1\)", whole)
    assert "Supplier audit" in whole and "addresses" in whole  # the link
    for attachment in db.session.scalars(select(Attachment)):
        assert attachment.filename in whole and attachment.sha256 in compact
    assert "ReplacedbymodelB" in compact  # a reason from the audit trail
    export, = exports_of(widget)
    assert (export.field, export.actor_name, export.entity_version) == ("pdf", "Bob Tester (bob)",
                                                                       widget.version)
    assert hashlib.sha256(response.data).hexdigest() in export.new_value


@pytest.mark.req("SEC-04")
def test_pdf_never_fetches_urls(app, make_user):
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title='<img src="http://127.0.0.1:9/x">',
                           description='<link rel="stylesheet" href="file:///etc/hostname">')
    db.session.commit()
    assert '<img src="http://127.0.0.1:9/x">' in "".join(pdf_text(render_record_pdf(record,
                                                                                      alice).data))
    fetcher = DataOnlyFetcher()
    for url in ("http://127.0.0.1:9/x", "https://example.org/a.css", "file:///etc/hostname"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    from weasyprint import HTML

    fetcher = DataOnlyFetcher()
    HTML(string='<img src="file:///etc/hostname"><img src="http://127.0.0.1:9/y">',
         url_fetcher=fetcher).write_pdf()
    assert fetcher.refused == ["file:///etc/hostname", "http://127.0.0.1:9/y"]


class WidgetSchema(Schema):
    description = fields.String(metadata={"label": "What it is"})
    secret_note = fields.String(load_only=True, attribute="notes")


def test_pdf_uses_the_record_types_schema_when_declared(app_factory, temp_plugin, make_user):
    plugin = temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.edit", "Edit"),
                                      Permission("acme.approve", "Approve")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), schema=WidgetSchema)],
    )
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        alice = make_user("alice")
        record = create_record("acme_widget", alice, title="Pump", description="Blue",
                               notes="not for print")
        db.session.commit()
        whole = "".join(pdf_text(render_record_pdf(record, alice).data))
    assert re.search(r"What it is\s+Blue\s+no", whole)
    assert "not for print" not in whole.split("Audit trail")[0]  # load-only: not a shown field


@pytest.fixture
def sites(app, system_actor):
    study = Study(code="ST-1", title="Study one")
    db.session.add(study)
    berlin, lyon = Site(study=study, code="101", name="Berlin"), Site(study=study, code="102",
                                                                      name="Lyon")
    db.session.add_all([berlin, lyon])
    db.session.commit()
    return berlin, lyon


@pytest.mark.req("SEC-02", "P11-04")
def test_exports_follow_the_record_pages_access(app, client, make_user, login, sites):
    berlin, lyon = sites
    alice = make_user("alice", "author")
    here = create_record("acme_widget", alice, title="At 101", description="d",
                         study_id=berlin.study_id, site_id=berlin.id)
    there = create_record("acme_widget", alice, title="At 102", description="d",
                          study_id=lyon.study_id, site_id=lyon.id)
    db.session.commit()
    anonymous = client.post(f"{URL}{here.id}/export.pdf",
                            data={"csrf_token": csrf_token(client, "/login")})
    assert anonymous.status_code == 302  # to the sign-in page
    make_user("sam", "site_monitor", site=berlin)
    make_user("tina", "trainee")
    login(client, "sam")
    assert post_with_token(client, f"{URL}{here.id}/export.pdf").status_code == 200
    assert post_with_token(client, f"{URL}{here.id}/certified-copy.zip").status_code == 200
    for url in (f"{URL}{there.id}/export.pdf", f"{URL}{there.id}/certified-copy.zip"):
        assert post_with_token(client, url).status_code == 404  # out of scope: does not exist for sam
    client.post("/logout", data={"csrf_token": csrf_token(client, URL)})
    login(client, "tina")
    assert post_with_token(client, f"{URL}{here.id}/export.pdf").status_code == 403
    assert [e.field for e in exports_of(here)] == ["pdf", "certified_copy"]
    assert exports_of(there) == []


# -- certified copies ---------------------------------------------------------------------------


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def cqms(tmp_path, monkeypatch, capsys):
    """Run ``cqms ARGS`` in-process with a fresh instance (no key of its own)."""
    for name in list(os.environ):
        if name.startswith("CQMS_") and not name.startswith("CQMS_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CQMS_ENV", "testing")
    monkeypatch.setenv("CQMS_INSTANCE_PATH", str(tmp_path / "inspector"))
    monkeypatch.setenv("CQMS_DATABASE_URL", f"sqlite:///{tmp_path / 'inspector.sqlite3'}")

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.mark.req("P11-02", "A11-08", "P11-14", "DI-O")
@pytest.mark.backends("sqlite", "postgresql")
def test_certified_copy_round_trip(app, client, login, widget, tmp_path, cqms):
    login(client, "bob")
    response = post_with_token(client, f"{URL}{widget.id}/certified-copy.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    members = members_of(response.data)
    manifest = json.loads(members["manifest.json"])
    assert manifest["record"]["number"] == widget.number
    files = {f["name"] for f in manifest["files"]}
    assert set(members) == files | {"manifest.json", "SHA256SUMS", "manifest.mac"}
    for row in manifest["files"]:
        assert hashlib.sha256(members[row["name"]]).hexdigest() == row["sha256"]

    # Every version, rebuilt from the audit trail; the last equals the database (round trip).
    db.session.expire_all()
    record = db.session.get(Record, widget.id)
    versions = json.loads(members["versions.json"])
    assert [v["version"] for v in versions] == list(range(1, record.version + 1))
    assert versions[0]["values"]["description"] == "Blue" and versions[0]["values"]["notes"] == "first"
    assert versions[1]["values"]["description"] == "Green" and versions[1]["changed_fields"] == [
        "description"]
    current = json.loads(members["record.json"])
    last = versions[-1]["values"]
    assert {k: v for k, v in last.items() if v is not None} == {
        k: v for k, v in current["fields"].items()
        if v is not None and k not in ("version", "updated_at", "updated_by_id")}
    assert (last["title"], last["description"], last["notes"], last["state"], last["content_hash"]) == (
        record.title, record.description, record.notes, record.state, record.content_hash)
    assert current["changed_since_original_entry"]["fields"]["description"] == 1

    entries = json.loads(members["audit-trail.json"])
    stored = {e.id: e.hash for e in db.session.scalars(select(AuditEntry))}
    assert entries and all(stored[e["id"]] == e["hash"] for e in entries)
    signatures = json.loads(members["signatures.json"])
    assert [s["valid"] for s in signatures] == [False, True]
    assert signatures[1]["manifestation"].startswith("Bob Tester, ") and signatures[1][
        "manifestation"].endswith(" UTC, approved")
    links = json.loads(members["links.json"])
    assert [(link["direction"], link["target"]["title"]) for link in links] == [
        ("outgoing", "Supplier audit")]
    for row in json.loads(members["attachments.json"]):
        assert hashlib.sha256(members[row["member"]]).hexdigest() == row["sha256"]
    assert "Certified copy of" in members["README.txt"].decode()
    assert "Certified copy made" in pdf_text(members["record.pdf"])[0]

    export, = exports_of(record)
    assert export.field == "certified_copy" and hashlib.sha256(response.data).hexdigest() in (
        export.new_value)

    bundle = tmp_path / "copy.zip"
    bundle.write_bytes(response.data)
    status, out, _ = cqms("verify-bundle", str(bundle), "--key", str(key_path()))
    assert status == 0, out
    assert out.startswith(f"OK {len(files)} files, {len(entries)} audit entries chained, "
                          "manifest MAC and 2 signature MAC(s) verified")
    status, out, _ = cqms("verify-bundle", str(bundle))
    assert status == 0 and out.startswith(f"OK {len(files)} files")
    assert "hashes only: no integrity key available" in out


def _rebuild(members: dict[str, bytes], path: Path, fix_manifest: bool = False) -> Path:
    """Write ``members`` as a zip; with ``fix_manifest`` the manifest and SHA256SUMS are made
    consistent again (as a forger without the key would), leaving manifest.mac as it was."""
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        for row in manifest["files"]:
            row["sha256"] = hashlib.sha256(members[row["name"]]).hexdigest()
            row["size"] = len(members[row["name"]])
        members["manifest.json"] = json.dumps(manifest, indent=2).encode()
        sums = {row["name"]: row["sha256"] for row in manifest["files"]}
        sums["manifest.json"] = hashlib.sha256(members["manifest.json"]).hexdigest()
        members["SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _edit_json(members: dict[str, bytes], name: str, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(members[name])
    change(data)
    members[name] = json.dumps(data, indent=2).encode()


TAMPERING = {
    "byte": (lambda m: m.__setitem__("versions.json", m["versions.json"].replace(b"Blue", b"Bluf")),
             False, True, "versions.json: SHA-256 does not match the manifest (altered)"),
    "removed": (lambda m: m.pop("record.pdf"), False, True,
                "record.pdf: missing (listed in the manifest, not in the zip)"),
    "added": (lambda m: m.__setitem__("attachments/9-extra.txt", b"smuggled\n"), False, True,
              "attachments/9-extra.txt: not listed in the manifest (added to the copy)"),
    "manifest": (lambda m: _edit_json(m, "manifest.json", lambda d: d.update(created_by="Eve")),
                 True, True, "manifest.mac: the manifest's MAC does not verify with this key"),
    "manifest without SHA256SUMS": (
        lambda m: _edit_json(m, "manifest.json", lambda d: d.update(created_by="Eve")), False,
        True, "SHA256SUMS: disagrees with the manifest about manifest.json"),
    "audit entry": (
        lambda m: _edit_json(m, "audit-trail.json", lambda d: d[1].update(new_value="Bluf")),
        True, True, "audit-trail.json: entry seq"),
    "signature": (
        lambda m: _edit_json(m, "signatures.json", lambda d: d[1].update(printed_name="Eve")),
        True, True, "signatures.json: signature 2 (Eve) does not match its MAC (altered)"),
}


@pytest.mark.req("P11-14", "P11-01")
@pytest.mark.parametrize("tamper", TAMPERING)
def test_tampered_certified_copies_fail_verification(app, widget, tmp_path, cqms, tamper):
    change, fix_manifest, with_key, message = TAMPERING[tamper]
    members = members_of(build_certified_copy(widget, widget.owner).data)
    change(members)
    bundle = _rebuild(members, tmp_path / "tampered.zip", fix_manifest)
    args = ("--key", str(key_path())) if with_key else ("--no-key",)
    status, out, err = cqms("verify-bundle", str(bundle), *args)
    assert (status, err) == (1, "")
    assert out.startswith(f"FAILED {message}"), out
    if tamper == "audit entry":  # the keyed chain names the entry (needs the key)
        assert "does not match its keyed hash (edited" in out


@pytest.mark.req("P11-14")
def test_without_the_key_a_rewritten_manifest_is_reported_as_hashes_only(app, widget, tmp_path,
                                                                         cqms):
    members = members_of(build_certified_copy(widget, widget.owner).data)
    _edit_json(members, "manifest.json", lambda d: d.update(created_by="Eve"))
    bundle = _rebuild(members, tmp_path / "forged.zip", fix_manifest=True)
    status, out, _ = cqms("verify-bundle", str(bundle), "--no-key")
    assert status == 0 and "hashes only" in out and "NOT checked" in out
    status, out, _ = cqms("verify-bundle", str(bundle), "--key", str(key_path()))
    assert status == 1 and "manifest.mac" in out


@pytest.mark.req("SEC-13")
def test_verify_bundle_bad_input_exits_2(tmp_path, cqms):
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    short_key = tmp_path / "short.key"
    short_key.write_bytes(b"x" * 8)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("hello.txt", "hi")
    for args, fragment in (((str(tmp_path / "missing.zip"),), "missing.zip: no such file"),
                           ((str(not_zip),), "not a zip file"),
                           ((str(empty), "--key", str(short_key)), "not an integrity key"),
                           ((str(empty), "--key", str(tmp_path / "nokey")), "nokey"),
                           ((), "Missing argument")):
        status, out, err = cqms("verify-bundle", *args)
        assert status == 2, (args, out, err)
        assert err.startswith("cqms: error: ") and err.count("\n") == 1 and fragment in err, err
        assert "Traceback" not in err
    status, out, _ = cqms("verify-bundle", str(empty))
    assert status == 1 and out.startswith("FAILED manifest.json: missing (this is not a CQMS")


@pytest.mark.req("P11-01", "DI-O", "SEC-11")
def test_an_altered_attachment_refuses_the_certified_copy(app, client, login, widget):
    attachment = db.session.scalars(select(Attachment).order_by(Attachment.id)).first()
    path = storage.path_of(attachment.storage_name)
    os.chmod(path, 0o640)
    path.write_bytes(b"pump specificatioN\n")
    with pytest.raises(CertifiedCopyRefused, match="altered"):
        build_certified_copy(widget, widget.owner)
    login(client, "bob")
    response = post_with_token(client, f"{URL}{widget.id}/certified-copy.zip", follow_redirects=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "No export was made" in response.get_data(as_text=True)
    assert "spec.txt" in response.get_data(as_text=True)
    assert exports_of(widget) == []


@pytest.mark.req("P11-01")
def test_an_audit_entry_edited_in_the_database_refuses_the_certified_copy(app, widget):
    seq = db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.entity_id == str(widget.id), AuditEntry.field == "description",
        AuditEntry.action == "update"))
    record_id = widget.id
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(text("UPDATE core_audit_entry SET new_value = 'Red' WHERE id = :id"),
                     {"id": seq})
    record = db.session.get(Record, record_id)
    with pytest.raises(CertifiedCopyRefused, match=f"audit entry {seq} does not match"):
        build_certified_copy(record, record.owner)


# -- CSV of admin lists -------------------------------------------------------------------------


@pytest.mark.req("SEC-06", "SEC-02", "E6-16")
@pytest.mark.backends("sqlite", "postgresql")
def test_list_csv_escapes_formulas_respects_scope_and_is_audited(client, make_user, login,
                                                                 sites):
    berlin, lyon = sites
    alice = make_user("alice", "author")
    create_record("acme_widget", alice, title="=cmd|' /C calc'!A0", description="d",
                  study_id=berlin.study_id, site_id=berlin.id)
    create_record("acme_widget", alice, title="Plain at 101", description="d",
                  study_id=berlin.study_id, site_id=berlin.id)
    create_record("acme_widget", alice, title="At 102", description="d",
                  study_id=lyon.study_id, site_id=lyon.id)
    db.session.commit()
    make_user("sam", "site_monitor", site=berlin)
    login(client, "sam")
    response = post_with_token(client, f"{URL}export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(r["Title"] for r in rows) == ["'=cmd|' /C calc'!A0", "Plain at 101"]
    assert all(r["Updated At"].endswith("+00:00") for r in rows)  # ISO 8601 with its zone
    searched = post_with_token(client, f"{URL}export.csv", query={"search": "Plain"})
    assert [r["Title"] for r in csv.DictReader(io.StringIO(searched.get_data(as_text=True)))] == [
        "Plain at 101"]
    events = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "export", AuditEntry.entity_type == "acme_widget"
    ).order_by(AuditEntry.id)).all()
    assert [(e.field, e.actor_name) for e in events] == [("csv", "Sam Tester (sam)")] * 2
    assert "2 rows" in events[0].new_value and "search=Plain" in events[1].new_value
    assert hashlib.sha256(response.data).hexdigest() in events[0].new_value


@pytest.mark.req("SEC-06", "P11-07")
def test_audit_trail_csv_export_is_audited(client, make_user, login):
    make_user("quinn", "qa_manager")
    login(client, "quinn")
    response = post_with_token(client, "/admin/core_audit/export.csv",
                               query={"action": "create"})
    assert response.status_code == 200
    event = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert (event.entity_type, event.field, event.actor_name) == (
        "core_audit_entry", "csv", "Quinn Tester (quinn)")
    assert "action=create" in event.new_value
    assert hashlib.sha256(response.data).hexdigest() in event.new_value


@pytest.mark.req("SEC-06")
def test_csv_exports_list_columns_only_never_secrets(app, client, make_user, login):
    make_user("root", "system_admin")
    login(client, "root")
    views = [v for v in app.extensions["cqms"].admin._views if isinstance(v, CQMSModelView)]
    assert {v.endpoint for v in views} >= {"core_users", "core_roles", "acme_widget"}
    for view in views:
        listed = [name for name, _label in view.get_list_columns()]
        exported = [name for name, _label in view.get_export_columns()]
        assert exported == [n for n in listed if not is_secret_column(str(n))], view.endpoint
        assert not any(is_secret_column(str(n)) for n in exported), view.endpoint
    body = post_with_token(client, "/admin/core_users/export.csv").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(body)))
    assert header == ["Username", "Printed name", "Email", "Roles", "Active", "Locked",
                      "Last sign-in", "Authenticator"]
    assert "$argon2" not in body and "password" not in body.lower()
    for name in ("password_hash", "totp_secret", "token_hash", "mac", "secret_key"):
        assert is_secret_column(name)
    for name in ("key", "username", "content", "machine"):
        assert not is_secret_column(name)

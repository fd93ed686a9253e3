"""Record pages in the admin: scoped lists, create/edit through the services, actions, signing."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core import create_record, transition
from core.attachments.models import Attachment
from core.db import db
from core.records.models import Record
from core.signatures.models import Signature
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD, csrf_token

URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def sites(app, system_actor):
    study = Study(code="ST-1", title="Study one")
    db.session.add(study)
    s1 = Site(study=study, code="101", name="Berlin")
    s2 = Site(study=study, code="102", name="Lyon")
    db.session.add_all([s1, s2])
    db.session.commit()
    return s1, s2


def create_via_form(client, title="Pump", description="Blue"):
    token = csrf_token(client, URL + "new/")
    return client.post(URL + "new/", data={"csrf_token": token, "title": title,
                                           "description": description, "notes": "",
                                           "study": "__None", "site": "__None"})


def post_action(client, record_id, name, **data):
    token = csrf_token(client, URL)
    return client.post(f"{URL}{record_id}/transition/{name}", data={"csrf_token": token, **data},
                       follow_redirects=True)


@pytest.mark.req("P11-08", "P11-15", "P11-16", "P11-12")
@pytest.mark.backends("sqlite", "postgresql")
def test_create_submit_and_sign_through_the_admin(client, make_user, login):
    make_user("alice", "author")
    make_user("bob", "approver")
    login(client, "alice")
    response = create_via_form(client)
    assert response.status_code == 302
    record = db.session.scalar(select(Record))
    assert record.number.startswith("WID-") and record.state == "draft"
    page = client.get(f"{URL}details/?id={record.id}").get_data(as_text=True)
    assert 'id="transition-submit"' in page and 'id="transition-approve"' not in page
    page = post_action(client, record.id, "submit").get_data(as_text=True)
    assert "submit done" in page
    client.post("/logout", data={"csrf_token": csrf_token(client, URL)})

    login(client, "bob")
    page = client.get(f"{URL}details/?id={record.id}").get_data(as_text=True)
    assert 'id="transition-approve"' in page and "legally binding" in page
    refused = post_action(client, record.id, "approve", password="wrong-password-here",
                          attest="y", username="bob").get_data(as_text=True)
    assert "password (or code) is not correct" in refused
    assert db.session.scalar(select(Signature)) is None
    page = post_action(client, record.id, "approve", password=DEFAULT_PASSWORD,
                       attest="y", comment="OK", username="bob").get_data(as_text=True)
    assert "approve done" in page
    db.session.expire_all()
    assert db.session.get(Record, record.id).state == "approved"
    row = re.search(r'<table class="table table-sm cqms-table" id="signatures">(.*?)</table>',
                    page, re.S).group(1)
    assert "Bob Tester (bob)" in row and " UTC" in row and "Approved by" in row and "valid" in row
    assert "Workflow step" in re.search(r'id="history">(.*?)</table>', page, re.S).group(1)


@pytest.mark.req("P11-05", "A11-09")
def test_edit_needs_current_version_and_a_reason_past_draft(client, make_user, login):
    author = make_user("alice", "author")
    login(client, "alice")
    create_via_form(client)
    record = db.session.scalar(select(Record))
    edit = f"{URL}edit/?id={record.id}"
    token = csrf_token(client, edit)
    form = {"csrf_token": token, "title": "Pump", "description": "Green", "notes": "",
            "study": "__None", "site": "__None", "expected_version": "1", "reason": ""}
    assert client.post(edit, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Record, record.id).description == "Green"
    stale = client.post(edit, data={**form, "description": "Red"}, follow_redirects=True)
    assert "changed by someone else" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Record, record.id).description == "Green"
    assert author.id == record.created_by_id


@pytest.mark.req("SEC-02", "E6-10")
def test_site_scoped_users_see_only_their_site(client, make_user, login, sites, system_actor):
    s1, s2 = sites
    owner = make_user("alice", "author")
    mine = create_record("acme_widget", owner, title="At 101", description="d", site_id=s1.id,
                         study_id=s1.study_id)
    theirs = create_record("acme_widget", owner, title="At 102", description="d",
                           site_id=s2.id, study_id=s2.study_id)
    db.session.commit()
    make_user("sam", "site_monitor", site=s1)
    login(client, "sam")
    listing = client.get(URL).get_data(as_text=True)
    assert "At 101" in listing and "At 102" not in listing
    assert client.get(f"{URL}details/?id={mine.id}").status_code == 200
    assert client.get(f"{URL}details/?id={theirs.id}").status_code in (302, 404)
    response = post_action(client, theirs.id, "submit")
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Record, theirs.id).state == "draft"


def test_no_delete_and_no_state_field_in_forms(client, make_user, login):
    make_user("alice", "author")
    login(client, "alice")
    page = client.get(URL + "new/").get_data(as_text=True)
    for hidden in ('name="state"', 'name="number"', 'name="version"', 'name="content_hash"'):
        assert hidden not in page
    create_via_form(client)
    record = db.session.scalar(select(Record))
    token = csrf_token(client, URL)
    assert client.post(URL + "delete/", data={"csrf_token": token, "id": record.id}
                       ).status_code == 405


@pytest.mark.req("SEC-02")
def test_scoped_users_cannot_create_records_outside_their_site(client, make_user, login, sites):
    s1, s2 = sites
    make_user("sam", "site_monitor", site=s1)
    login(client, "sam")
    token = csrf_token(client, URL + "new/")
    form = {"csrf_token": token, "title": "Elsewhere", "description": "d", "notes": "",
            "study": str(s2.study_id), "site": str(s2.id)}
    refused = client.post(URL + "new/", data=form, follow_redirects=True)
    assert "may not manage records of that study or site" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Record)) is None
    form.update(title="Here", site=str(s1.id), csrf_token=csrf_token(client, URL + "new/"))
    assert client.post(URL + "new/", data=form).status_code == 302
    assert db.session.scalar(select(Record)).site_id == s1.id


@pytest.mark.req("P11-05")
def test_audit_viewer_filters_by_record_number(client, make_user, login):
    alice = make_user("alice", "author")
    make_user("quinn", "qa_manager", "site_monitor")  # audit.view, and reads widgets
    first = create_record("acme_widget", alice, title="First", description="Blue")
    second = create_record("acme_widget", alice, title="Second", description="Green")
    db.session.commit()
    login(client, "quinn")
    page = client.get("/admin/core_audit/", query_string={"record": first.number})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Blue" in text and "Green" not in text
    assert client.get("/admin/core_audit/", query_string={"record": second.number}).get_data(
        as_text=True).count("Green") >= 1
    missing = client.get("/admin/core_audit/", query_string={"record": "WID-1999-9999"})
    assert missing.status_code == 400
    assert "no record is numbered" in missing.get_data(as_text=True)
    for bad, message in (({"since": "26/11/2026"}, "use the date format YYYY-MM-DD"),
                         ({"sort": "hash"}, "Unknown filter: sort"),
                         ({"before": "x1"}, "expected an entry number")):
        response = client.get("/admin/core_audit/", query_string=bad)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
        assert 'id="audit-filters"' in response.get_data(as_text=True)  # the form, re-shown


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def upload(client, record_id, data, name, reason=""):
    token = csrf_token(client, f"{URL}details/?id={record_id}")
    return client.post(f"{URL}{record_id}/attachments", data={
        "csrf_token": token, "reason": reason, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data", follow_redirects=True)


@pytest.mark.req("P11-05", "SEC-11")
def test_attach_files_on_the_record_page(client, make_user, login, sites):
    s1, s2 = sites
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Pump", description="Blue",
                           study_id=s1.study_id, site_id=s1.id)
    db.session.commit()
    login(client, "alice")
    page = client.get(f"{URL}details/?id={record.id}").get_data(as_text=True)
    assert "No attachments." in page and 'id="attach-file"' in page
    done = upload(client, record.id, PDF, "Spec sheet.pdf").get_data(as_text=True)
    assert "Spec sheet.pdf attached (version 2)" in done
    table = re.search(r'id="attachments">(.*?)</table>', done, re.S).group(1)
    link = re.search(r'href="(/files/\d+)">Spec sheet.pdf</a>', table).group(1)
    assert "application/pdf" in table and hashlib.sha256(PDF).hexdigest()[:16] in table
    assert client.get(link).data == PDF
    refused = upload(client, record.id, b"MZ\x90\x00" + bytes(60), "tool.exe").get_data(
        as_text=True)
    assert "Check the form: file: This kind of file is not accepted" in refused
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 1
    client.post("/logout", data={"csrf_token": csrf_token(client, URL)})

    # A monitor of the record's site reads and downloads it; one of the other site sees nothing.
    make_user("sam", "site_monitor", site=s1)
    make_user("lou", "site_monitor", site=s2)
    login(client, "lou")
    assert client.get(link).status_code == 403  # as for an unknown id: existence not revealed
    assert client.post(f"{URL}{record.id}/attachments", data={
        "csrf_token": csrf_token(client, URL)}).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, URL)})
    login(client, "sam")
    assert client.get(link).data == PDF


def test_attaching_past_draft_needs_a_reason(client, make_user, login):
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Pump", description="Blue")
    db.session.commit()
    transition(record, "submit", alice)
    db.session.commit()
    login(client, "alice")
    page = client.get(f"{URL}details/?id={record.id}").get_data(as_text=True)
    assert 'id="attach-reason" maxlength="2000" required' in page
    refused = upload(client, record.id, PDF, "annex.pdf").get_data(as_text=True)
    assert "past draft: a reason for the change is required" in refused
    done = upload(client, record.id, PDF, "annex.pdf", reason="Annex was missing")
    assert "annex.pdf attached" in done.get_data(as_text=True)


def test_link_records_on_the_record_page(client, make_user, login, sites):
    s1, s2 = sites
    alice = make_user("alice", "author")
    first = create_record("acme_widget", alice, title="Pump", description="Blue")
    hidden = create_record("acme_widget", alice, title="Other site", description="x",
                           study_id=s2.study_id, site_id=s2.id)
    second = create_record("acme_widget", alice, title="Valve", description="Red",
                           study_id=s1.study_id, site_id=s1.id)
    db.session.commit()
    make_user("sam", "site_monitor", site=s1)
    login(client, "sam")
    url = f"{URL}details/?id={second.id}"

    def link(target, kind="addresses"):
        return client.post(f"{URL}{second.id}/links", data={
            "csrf_token": csrf_token(client, url), "target": target, "kind": kind},
            follow_redirects=True).get_data(as_text=True)

    assert f"{second.number} addresses {first.number}." in link(first.number)  # readable to all
    refused = link(hidden.number)
    assert "no record numbered" in refused and "that you may see" in refused
    assert "already linked" in link(first.number)
    page = client.get(url).get_data(as_text=True)
    assert "This record addresses" in page and first.number in page


@pytest.mark.req("SEC-13")
@pytest.mark.backends("sqlite", "postgresql")
def test_ids_beyond_the_database_range_are_not_found(client, make_user, login, cqms_backend):
    """PostgreSQL refuses integers past 2**31 - 1 with an error; routes answer 404 instead."""
    make_user("alice", "author")
    login(client, "alice")
    huge = 2**40
    token = csrf_token(client, URL)
    for url in (f"{URL}{huge}/links", f"{URL}{huge}/attachments", f"{URL}{huge}/export.pdf",
                f"{URL}{huge}/transition/submit"):
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url
    assert client.get(f"/files/{huge}").status_code in (403, 404)
    assert client.get(f"{URL}details/", query_string={"id": huge}).status_code in (302, 404)


@pytest.mark.req("SEC-04")
def test_a_multi_line_text_shows_its_lines_escaped_on_the_record_page(client, make_user, login):
    from core.records.models import Record

    make_user("alice", "author")
    login(client, "alice")
    create_via_form(client, description="<script>alert(1)</script>\nsecond line")
    record_id = db.session.scalar(select(Record.id))
    page = client.get(f"/admin/acme_widget/details/?id={record_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in page
    assert "<script>alert(1)" not in page

"""Study/site scope on every write path (issue 11, items 1 and 7).

A write needs the type's permission in the record's current scope and in the scope it moves to,
on every path: services, admin forms, the API, links, attachments and transitions. Owners are
active people who work on the type where the record is. Downloads follow read access, never
ownership. The route walk at the end sends every admin and API write and download route of a
record type to records out of a site-scoped user's scope: each is refused and nothing is written.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import g
from kernel_plugin import make_scoped_plugin
from sqlalchemy import func, select

from core import (
    PermissionDenied,
    SignatureRequest,
    ValidationError,
    add_attachment,
    attest,
    create_record,
    link_records,
    transition,
    update_record,
)
from core.attachments.models import Attachment
from core.audit.models import AuditEntry
from core.db import db
from core.records.models import Record, RecordLink
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users.models import Role, User
from core.users.service import assign_role, ensure_system_user, revoke_assignment

BOTH = pytest.mark.backends("sqlite", "postgresql")
API = "/api/v1"
ADMIN = "/admin/acme_widget/"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_scoped_plugin(temp_plugin)}}


def grant(user: User, role_key: str, site: Site | None = None) -> Any:
    role = db.session.scalar(select(Role).where(Role.key == role_key))
    assignment = assign_role(user, role, reason="test set-up", site=site)
    db.session.commit()
    fresh()
    return assignment


def fresh() -> None:
    """Forget the grants cached for this app context (role changes in the test body)."""
    g.pop("cqms_grants", None)


class World:
    """Sites 101 and 102 of ST-1, people, and widgets: global draft ``G``, global approved
    ``A``, ``M`` at 101 and ``T`` at 102 (each with a file)."""

    def __init__(self, make_user):  # type: ignore[no-untyped-def]
        self.study = Study(code="ST-1", title="Study one")
        self.s101 = Site(study=self.study, code="101", name="Berlin")
        self.s102 = Site(study=self.study, code="102", name="Lyon")
        db.session.add_all([self.study, self.s101, self.s102])
        db.session.commit()
        self.olga = make_user("olga", "author")  # global author: creates the widgets
        self.bob = make_user("bob", "approver")
        self.sam = make_user("sam", "author", site=self.s101)  # author at 101 only
        self.gus = make_user("gus", "trainee")  # reads everything, authors at 101
        grant(self.gus, "author", self.s101)
        self.amy = make_user("amy", "author", site=self.s101)
        self.lou = make_user("lou", "author", site=self.s102)
        self.ines = make_user("ines", "inspector", site=self.s101)
        attest(self.bob, DEFAULT_PASSWORD)
        self.G = self.widget("Global draft")
        self.A = self.widget("Global approved")
        transition(self.A, "submit", self.olga)
        transition(self.A, "approve", self.bob, signature=SignatureRequest(DEFAULT_PASSWORD))
        self.M = self.widget("At 101", self.s101)
        self.T = self.widget("At 102", self.s102)
        db.session.commit()
        self.files = {r.id: self.attach(r) for r in (self.G, self.A, self.M, self.T)}
        self.links = {r.id: self.link(r) for r in (self.G, self.A, self.M, self.T)}
        fresh()

    def widget(self, title: str, site: Site | None = None) -> Any:
        scope = {"study_id": site.study_id, "site_id": site.id} if site else {}
        record = create_record("acme_widget", self.olga, title=title, description="Blue",
                               **scope)
        db.session.commit()
        return record

    def link(self, record: Record) -> Any:
        """A live link from ``record`` (to ``G``, or from ``G`` to ``M``)."""
        target = self.M if record is self.G else self.G
        link = link_records(record, target, "relates_to", self.olga, reason="Context")
        db.session.commit()
        return link

    def attach(self, record: Record) -> Attachment:
        reason = "" if record.state == "draft" else "Annex"
        attachment = add_attachment(record, self.olga, "annex.pdf", io.BytesIO(PDF),
                                    reason=reason)
        db.session.commit()
        return attachment


@pytest.fixture
def world(app, make_user, system_actor):  # type: ignore[no-untyped-def]
    return World(make_user)


def written() -> tuple[int, ...]:
    """What any write leaves behind: audit entries, records and their versions, links, files."""
    db.session.expire_all()
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    versions = db.session.scalar(select(func.sum(Record.version)))
    return (count(AuditEntry), count(Record), versions, count(RecordLink), count(Attachment))


def refused(call, error=PermissionDenied):  # type: ignore[no-untyped-def]
    before = written()
    with pytest.raises(error) as caught:
        call()
    db.session.rollback()
    assert written() == before
    return caught.value


# -- services ------------------------------------------------------------------------------------


@pytest.mark.req("SEC-02", "P11-04")
@BOTH
def test_update_needs_the_permission_in_the_current_and_the_target_scope(world, cqms_backend):
    w = world
    st, s101, s102 = w.study.id, w.s101.id, w.s102.id
    # A site-101 author edits neither a global draft nor an approved global record ...
    refused(lambda: update_record(w.G, w.sam, expected_version=w.G.version, title="Mine"))
    refused(lambda: update_record(w.G, w.sam, expected_version=w.G.version, title="Mine",
                                  study_id=st, site_id=s101))
    refused(lambda: update_record(w.A, w.sam, expected_version=w.A.version, reason="Move",
                                  study_id=st, site_id=s101))
    # ... nor moves a 102 record they can read into 101, nor one of 101 out to 102.
    refused(lambda: update_record(w.T, w.gus, expected_version=w.T.version, study_id=st,
                                  site_id=s101))
    refused(lambda: update_record(w.M, w.sam, expected_version=w.M.version, study_id=st,
                                  site_id=s102))
    update_record(w.M, w.sam, expected_version=w.M.version, title="Renamed at 101")
    db.session.commit()
    assert (w.M.title, w.M.site_id) == ("Renamed at 101", s101)


@pytest.mark.req("SEC-02", "P11-04")
@BOTH
def test_create_link_and_attach_need_the_permission_in_scope(world, cqms_backend):
    w = world
    refused(lambda: create_record("acme_widget", w.sam, title="Elsewhere", study_id=w.study.id,
                                  site_id=w.s102.id))
    refused(lambda: create_record("acme_widget", w.sam, title="Global"))
    refused(lambda: create_record("acme_widget", w.ines, title="Inspected", study_id=w.study.id,
                                  site_id=w.s101.id))
    refused(lambda: link_records(w.G, w.M, "relates_to", w.sam))
    refused(lambda: link_records(w.T, w.M, "relates_to", w.gus))
    error = refused(lambda: link_records(w.M, w.T, "relates_to", w.sam), ValidationError)
    assert "target" in error.errors
    refused(lambda: add_attachment(w.G, w.sam, "x.pdf", io.BytesIO(PDF)))
    refused(lambda: add_attachment(w.T, w.gus, "x.pdf", io.BytesIO(PDF)))
    refused(lambda: transition(w.G, "submit", w.sam))
    refused(lambda: transition(w.T, "submit", w.gus))
    # In scope all of them work.
    mine = create_record("acme_widget", w.sam, title="Here", study_id=w.study.id,
                         site_id=w.s101.id, description="Blue")
    link_records(mine, w.G, "relates_to", w.sam)  # a global record is readable to all
    add_attachment(mine, w.sam, "x.pdf", io.BytesIO(PDF))
    db.session.commit()


# -- admin ---------------------------------------------------------------------------------------


def edit_form(client, record, **changes):  # type: ignore[no-untyped-def]
    url = f"{ADMIN}edit/?id={record.id}"
    page = client.get(url)
    token = csrf_token(client, "/admin/")
    form = {"csrf_token": token, "title": record.title, "description": record.description,
            "notes": "", "study": str(record.study_id or "__None"),
            "site": str(record.site_id or "__None"), "expected_version": str(record.version),
            "reason": "Scope test"}
    return page, client.post(url, data={**form, **changes})


@pytest.mark.req("SEC-02", "P11-04")
@BOTH
def test_admin_edit_checks_the_current_and_the_target_scope(client, login, world,
                                                            cqms_backend):
    w = world
    login(client, "sam")
    before = written()
    for record in (w.G, w.A):
        page, response = edit_form(client, record, title="Taken", study=str(w.study.id),
                                   site=str(w.s101.id))
        assert page.status_code == 403 and response.status_code == 403
    assert written() == before
    _page, response = edit_form(client, w.M, study=str(w.study.id), site=str(w.s102.id))
    assert "may not manage records of that study or site" in response.get_data(as_text=True)
    assert written() == before
    client.post("/logout", data={"csrf_token": csrf_token(client, ADMIN)})
    login(client, "gus")
    before = written()
    page, response = edit_form(client, w.T, study=str(w.study.id), site=str(w.s101.id))
    assert page.status_code == 403 and response.status_code == 403
    assert written() == before
    assert w.T.site_id == w.s102.id


# -- owners --------------------------------------------------------------------------------------


def token_for(client, username):  # type: ignore[no-untyped-def]
    response = client.post(f"{API}/auth/tokens", json={"username": username,
                                                       "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.mark.req("SEC-02", "P11-04")
@BOTH
def test_owners_are_people_who_work_on_the_type_where_the_record_is(client, world,
                                                                    cqms_backend):
    w = world
    sam = token_for(client, "sam")
    system = ensure_system_user()
    url = f"{API}/records/acme_widget/{w.M.id}"
    before = written()
    for owner in (system, w.ines, w.lou):
        db.session.expire_all()
        response = client.patch(url, json={"owner_id": owner.id}, headers={
            **sam, "If-Match": f'"{w.M.version}"'})
        assert response.status_code == 422, (owner.username, response.get_json())
        assert "owner_id" in response.get_json()["errors"]
    created = client.post(f"{API}/records/acme_widget", headers=sam, json={
        "title": "Handed to Lyon", "site_id": w.s102.id, "owner_id": w.lou.id})
    assert created.status_code == 403  # not their site, whoever would own it
    created = client.post(f"{API}/records/acme_widget", headers=sam, json={
        "title": "Handed to an inspector", "site_id": w.s101.id, "owner_id": w.ines.id})
    assert created.status_code == 422 and "owner_id" in created.get_json()["errors"]
    assert written() == before
    fresh()
    with pytest.raises(ValidationError) as caught:
        create_record("acme_widget", w.olga, title="System owned", owner_id=system.id)
    assert "owner_id" in caught.value.errors
    db.session.rollback()
    db.session.expire_all()
    response = client.patch(url, json={"owner_id": w.amy.id}, headers={
        **sam, "If-Match": f'"{w.M.version}"'})
    assert response.status_code == 200 and response.get_json()["owner_id"] == w.amy.id


@pytest.mark.req("SEC-02", "SEC-11", "P11-04")
@BOTH
def test_downloads_follow_read_access_never_ownership(app, client, login, world,
                                                      cqms_backend):
    w = world
    update_record(w.M, w.amy, expected_version=w.M.version, owner_id=w.amy.id)
    db.session.commit()
    [at_101] = [a for a in w.amy.active_assignments() if a.site_id == w.s101.id]
    revoke_assignment(at_101, reason="Moved to Lyon")
    db.session.commit()
    grant(w.amy, "author", w.s102)  # amy now works at 102 and still owns M of 101
    file = w.files[w.M.id]
    login(client, "amy")
    before = written()
    assert client.get(f"/files/{file.id}").status_code == 403
    assert client.get(f"{ADMIN}details/?id={w.M.id}").status_code == 404
    assert written() == before
    inspector = app.test_client()
    login(inspector, "ines")  # reads 101: downloads its files
    assert inspector.get(f"/files/{file.id}").data == PDF


# -- the walk ------------------------------------------------------------------------------------

# Write routes of a record type's admin pages and of the records API, and the downloads.
ADMIN_WRITES = {"create_view", "edit_view", "ajax_update", "action_view", "delete_view",
                "transition_view", "link_view", "unlink_view", "attach_view"}
ADMIN_DOWNLOADS = {"export_pdf_view", "certified_copy_view", "export", "export_csv_view",
                   "verify_view"}  # verify: any reader may check a record (audited)
API_WRITES = {"create", "patch_record", "do_transition", "add_link", "end_link", "upload"}
API_DOWNLOADS = {"attachment_content", "export"}


def test_the_walk_covers_every_write_and_download_route(app):
    """A new write or download route of records must be added to the walk below."""
    admin, api = set(), set()
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.partition(".")
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if blueprint == "acme_widget" and (methods - {"GET"} or "export" in name):
            admin.add(name)
        if blueprint == "core_api_records" and (methods - {"GET"} or name in API_DOWNLOADS):
            api.add(name)
    assert admin == ADMIN_WRITES | ADMIN_DOWNLOADS
    assert api == API_WRITES | API_DOWNLOADS


class Walker:
    """One signed-in user (browser session and API token) sending crafted requests."""

    def __init__(self, app, login, username):  # type: ignore[no-untyped-def]
        self.web = app.test_client()
        login(self.web, username)
        self.api_headers = token_for(app.test_client(), username)
        self.api = app.test_client()
        self.token = csrf_token(self.web, "/admin/")

    def post(self, url, **data):  # type: ignore[no-untyped-def]
        return self.web.post(url, data={"csrf_token": self.token, **data})

    def call(self, method, url, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.api_headers, **kwargs.pop("headers", {})}
        return getattr(self.api, method)(f"{API}{url}", headers=headers, **kwargs)


def admin_writes(walker, record, w):  # type: ignore[no-untyped-def]
    """Every admin write on ``record``, moving it into the walker's site where a form allows."""
    scope = {"study": str(w.study.id), "site": str(w.s101.id)}
    form = {"title": "Taken", "description": "Red", "notes": "", **scope,
            "expected_version": str(record.version), "reason": "Walk"}
    yield "edit", walker.post(f"{ADMIN}edit/?id={record.id}", **form)
    yield "ajax", walker.post(f"{ADMIN}ajax/update/", list_form_pk=str(record.id),
                              title="Taken")
    yield "action", walker.post(f"{ADMIN}action/", action="delete", rowid=str(record.id))
    yield "delete", walker.post(f"{ADMIN}delete/", id=str(record.id))
    step = "submit" if record.state == "draft" else "retire"
    yield "admin transition", walker.post(f"{ADMIN}{record.id}/transition/{step}",
                                          reason="Walk")
    yield "link", walker.post(f"{ADMIN}{record.id}/links", target=w.M.number, kind="relates_to")
    yield "unlink", walker.post(f"{ADMIN}{record.id}/links/{w.links[record.id].id}/end",
                                reason="Walk")
    yield "attach", walker.web.post(f"{ADMIN}{record.id}/attachments", data={
        "csrf_token": walker.token, "reason": "Walk", "file": (io.BytesIO(PDF), "x.pdf")},
        content_type="multipart/form-data")


def api_writes(walker, record, w):  # type: ignore[no-untyped-def]
    url = f"/records/acme_widget/{record.id}"
    match = {"If-Match": f'"{record.version}"'}
    yield "patch", walker.call("patch", url, json={"title": "Taken", "reason": "Walk"},
                               headers=match)
    yield "move in", walker.call("patch", url, json={"site_id": w.s101.id, "reason": "Walk"},
                                 headers=match)
    step = "submit" if record.state == "draft" else "retire"
    yield "transition", walker.call("post", f"{url}/transitions/{step}", json={"reason": "Walk"})
    yield "link", walker.call("post", f"{url}/links", json={"target": w.M.number,
                                                            "kind": "relates_to"})
    yield "unlink", walker.call("post", f"{url}/links/{w.links[record.id].id}/end",
                                json={"reason": "Walk"})
    yield "upload", walker.call("post", f"{url}/attachments", data={
        "reason": "Walk", "file": (io.BytesIO(PDF), "x.pdf")},
        content_type="multipart/form-data")


def downloads(walker, record, w):  # type: ignore[no-untyped-def]
    file = w.files[record.id]
    url = f"/records/acme_widget/{record.id}"
    yield "pdf", walker.post(f"{ADMIN}{record.id}/export.pdf")
    yield "copy", walker.post(f"{ADMIN}{record.id}/certified-copy.zip")
    yield "verify", walker.post(f"{ADMIN}{record.id}/verify")
    yield "file", walker.web.get(f"/files/{file.id}")
    yield "api file", walker.call("get", f"{url}/attachments/{file.id}/content")
    yield "api pdf", walker.call("get", f"{url}/export", query_string={"format": "pdf"})
    yield "api copy", walker.call("get", f"{url}/export",
                                  query_string={"format": "certified-copy"})


def assert_refused(label, response, allowed=(403, 404, 405)):  # type: ignore[no-untyped-def]
    assert response.status_code in allowed, (label, response.status_code,
                                              response.get_data(as_text=True)[:300])


@pytest.mark.req("SEC-02", "SEC-11", "P11-04")
@BOTH
@pytest.mark.parametrize("username", ["sam", "gus"])
def test_walk_of_write_and_download_routes_out_of_scope(app, login, world, username,
                                                        cqms_backend):
    """``sam`` authors at 101 only; ``gus`` also reads everywhere. Neither writes a global
    record or one of 102, nor moves a record out of 101; ``sam`` downloads nothing of 102."""
    w = world
    walker = Walker(app, login, username)
    unwritable = [w.G, w.A, w.T]
    unreadable = [w.T] if username == "sam" else []
    before = written()
    for record in unwritable:
        for label, response in (*admin_writes(walker, record, w),
                                *api_writes(walker, record, w)):
            if label == "admin transition" and record in unreadable:
                assert_refused(label, response, (404,))
            elif label == "admin transition":  # back to the record page with the refusal
                assert response.status_code == 302
                assert response.location.endswith(f"details/?id={record.id}")
            else:
                assert_refused(f"{label} {record.title}", response)
    # Out of 101 into 102, and new records outside 101.
    form = {"title": "Out", "description": "Blue", "notes": "", "study": str(w.study.id),
            "site": str(w.s102.id), "expected_version": str(w.M.version), "reason": "Walk"}
    moved = walker.post(f"{ADMIN}edit/?id={w.M.id}", **form)
    assert "may not manage records of that study or site" in moved.get_data(as_text=True)
    created = walker.post(f"{ADMIN}new/", **form)
    assert "may not manage records of that study or site" in created.get_data(as_text=True)
    created = walker.post(f"{ADMIN}new/", **{**form, "study": "__None", "site": "__None"})
    assert "may not manage records of that study or site" in created.get_data(as_text=True)
    assert_refused("api move out", walker.call(
        "patch", f"/records/acme_widget/{w.M.id}", json={"site_id": w.s102.id},
        headers={"If-Match": f'"{w.M.version}"'}))
    for scope in ({"site_id": w.s102.id}, {}):
        assert_refused("api create", walker.call("post", "/records/acme_widget",
                                                 json={"title": "Out", **scope}))
    # Links from a record in scope to one the user may not see.
    for record in unreadable:
        response = walker.call("post", f"/records/acme_widget/{w.M.id}/links",
                               json={"target": record.number, "kind": "relates_to"})
        assert_refused("api link out", response, (404, 422))
        page = walker.post(f"{ADMIN}{w.M.id}/links", target=record.number, kind="relates_to")
        assert page.status_code == 302  # back to the record page with the message
        for label, response in downloads(walker, record, w):
            assert_refused(f"{label} {record.title}", response)
    # Flask-Admin's GET export is off: it sends the list page back, no data.
    assert_refused("list export", walker.web.get(f"{ADMIN}export/csv/"), (302, 403, 404))
    assert written() == before
    listed = walker.post(f"{ADMIN}export.csv").get_data(as_text=True)  # audited: after the count
    assert "At 101" in listed and ("At 102" in listed) == (username == "gus")

"""The audit trail, signatures, links, tasks and notifications of a record are visible only to
those who may read the record; entries about no record (accounts, roles, settings) need
``core.audit.view`` held globally (issue 11, item 2).

An inspector scoped to site 101 and a global inspector look at the same data through every
path: the API (whole trail, one record's trail, links, signatures, certified copy), the admin
audit viewer and its CSV export, the task lists and the notifications.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from kernel_plugin import AcmeWidget, make_scoped_plugin
from sqlalchemy import select
from work_helpers import studies

from core import (
    create_record,
    has_permission,
    link_records,
    notify,
    open_task,
    update_record,
)
from core.audit.models import AuditEntry
from core.db import db
from core.notifications.models import Notification
from core.notifications.service import unread_count
from core.signatures.service import SignatureRequest, attest, sign
from core.testing import DEFAULT_PASSWORD, login, post_with_token
from core.users.models import Role
from core.users.service import assign_role

API = "/api/v1"
# Entries of these entity types concern no record: only a global audit viewer sees them.
NO_RECORD = ("core_user", "core_user_role", "core_role", "core_role_permission",
             "core_permission", "core_study", "core_site", "core_signature_attestation")


def restricted_widgets(user):  # type: ignore[no-untyped-def]
    """The type's read_filter: widgets noted "restricted" are for editors only."""
    return None if has_permission(user, "acme.edit") else AcmeWidget.notes != "restricted"


@pytest.fixture
def app_config(temp_plugin):
    plugin = make_scoped_plugin(temp_plugin, read_filter=restricted_widgets)
    return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}


class World:
    """Who and what the tests look at; ``hidden``/``shown`` are (entity type, id) keys of the
    entries the site-101 inspector must not and must see."""

    def __init__(self, make_user, system_actor):  # type: ignore[no-untyped-def]
        sites = studies()
        study, s101, s102 = sites["ST-1"], sites["101"], sites["102"]
        alice = make_user("alice", "author")
        victor = make_user("victor", "approver")
        self.ines = make_user("ines", "inspector", "qa_manager", site=s101)
        self.gil = make_user("gil", "inspector", "qa_manager")
        here = {"study_id": study.id, "site_id": s101.id}
        there = {"study_id": study.id, "site_id": s102.id}
        self.w101 = create_record("acme_widget", alice, title="Widget at 101", description="d",
                                  **here)
        self.w102 = create_record("acme_widget", alice, title="Widget at 102", description="d",
                                  **there)
        self.wglobal = create_record("acme_widget", alice, title="Widget of no site",
                                     description="d")
        self.secret = create_record("acme_widget", alice, title="Restricted widget at 101",
                                    description="d", notes="restricted", **here)
        db.session.commit()
        update_record(self.w102, alice, expected_version=self.w102.version,
                      title="Widget at 102, renamed")
        link_far = link_records(self.w101, self.w102, "relates_to", alice)
        link_near = link_records(self.w101, self.wglobal, "relates_to", alice)
        attest(victor, DEFAULT_PASSWORD)
        sign(self.w102, victor, SignatureRequest(password=DEFAULT_PASSWORD),
             meaning="approved")
        mine_far = open_task(self.w102, "acme.check", "Check widget 102", assignee=self.ines,
                             by=alice)
        mine_near = open_task(self.w101, "acme.check", "Check widget 101", assignee=self.ines,
                              by=alice)
        open_task(self.wglobal, "acme.check", "Check the global widget", assignee=self.ines,
                  by=alice)
        # A team task kept at site 101 although its record is at site 102.
        team_far = open_task(self.w102, "acme.review", "Review widget 102 at 101", role="author",
                             site=s101, by=alice)
        open_task(self.w102, "acme.check", "Check widget 102", assignee=self.gil, by=alice)
        for user in (self.ines, self.gil):
            notify("acme.ping", user, "About widget 102", "b", record=self.w102)
            notify("acme.ping", user, "About widget 101", "b", record=self.w101)
            notify("acme.hello", user, "Hello everyone", "b")
        db.session.commit()
        notice = {n.subject: n.id for n in db.session.scalars(select(Notification).where(
            Notification.recipient_id == self.ines.id))}
        self.hidden = {
            ("acme_widget", str(self.w102.id)), ("acme_widget", str(self.secret.id)),
            # The signature of widget 102 is an event on the widget's own entries.
            ("core_record_link", str(link_far.id)),
            ("core_task", str(mine_far.id)), ("core_task", str(team_far.id)),
            ("core_notification", str(notice["About widget 102"])),
        }
        self.shown = {
            ("acme_widget", str(self.w101.id)), ("acme_widget", str(self.wglobal.id)),
            ("core_record_link", str(link_near.id)), ("core_task", str(mine_near.id)),
            ("core_notification", str(notice["About widget 101"])),
        }


@pytest.fixture
def world(app, make_user, system_actor):  # type: ignore[no-untyped-def]
    return World(make_user, system_actor)


def bearer(client, username):  # type: ignore[no-untyped-def]
    response = client.post(f"{API}/auth/tokens", json={"username": username,
                                                       "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def api_trail(client, headers, **filters):  # type: ignore[no-untyped-def]
    """Every entry of ``GET /audit`` (all pages) as (entity type, entity id) keys."""
    keys, after = [], None
    while True:
        query = {**filters, "limit": 200, **({"after": after} if after else {})}
        page = client.get(f"{API}/audit", query_string=query, headers=headers)
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        keys += [(e["entity_type"], e["entity_id"]) for e in body["items"]]
        after = body["next"]
        if not after:
            return keys


def viewer_trail(client):  # type: ignore[no-untyped-def]
    """Every entry the admin audit viewer lists (following "Older entries")."""
    keys, url = [], "/admin/core_audit/"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        keys += [(t, i) for t, i in re.findall(
            r'<tr data-entity="([a-z_]+)" data-entity-id="([0-9,]*)">', text) if i]
        more = re.search(r'href="([^"]*before=\d+[^"]*)"', text)
        url = more.group(1).replace("&amp;", "&") if more else None
    return keys


def csv_trail(client):  # type: ignore[no-untyped-def]
    response = post_with_token(client, "/admin/core_audit/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    return [(row["entity_type"], row["entity_id"]) for row in rows]


def assert_scoped(world, keys):  # type: ignore[no-untyped-def]
    seen = set(keys)
    assert seen, "the scoped inspector sees nothing at all"
    assert not seen & world.hidden, sorted(seen & world.hidden)
    assert world.shown <= seen, sorted(world.shown - seen)
    assert not [k for k in seen if k[0] in NO_RECORD], sorted(k for k in seen
                                                                if k[0] in NO_RECORD)


def assert_everything(world, keys):  # type: ignore[no-untyped-def]
    seen = set(keys)
    secret = {("acme_widget", str(world.secret.id))}
    assert world.shown <= seen
    assert world.hidden - secret <= seen, sorted(world.hidden - secret - seen)
    assert not seen & secret  # the type's read_filter holds for global readers too
    assert {k[0] for k in seen} >= {"core_user", "core_user_role"}


# -- the API -------------------------------------------------------------------------------------


@pytest.mark.req("SEC-02", "P11-04")
@pytest.mark.backends("sqlite", "postgresql")
def test_api_trail_shows_only_entries_of_readable_records(cqms_backend, client, world):
    ines, gil = bearer(client, "ines"), bearer(client, "gil")
    assert_scoped(world, api_trail(client, ines))
    assert_everything(world, api_trail(client, gil))
    # Filtering by an unreadable record's number answers as for a number that does not exist.
    far = client.get(f"{API}/audit", query_string={"record": world.w102.number}, headers=ines)
    nowhere = client.get(f"{API}/audit", query_string={"record": "WID-NOPE"}, headers=ines)
    assert far.status_code == nowhere.status_code == 400
    assert far.get_json()["detail"].replace(world.w102.number, "X") == \
        nowhere.get_json()["detail"].replace("WID-NOPE", "X")
    near = api_trail(client, ines, record=world.w101.number)
    assert near and set(near) == {("acme_widget", str(world.w101.id))}
    assert len(api_trail(client, gil, record=world.w102.number)) >= 5
    # Entry filters keep the scope.
    assert not set(api_trail(client, ines, entity_type="core_user"))
    assert not set(api_trail(client, ines, entity_id=str(world.w102.id))) & world.hidden


@pytest.mark.req("SEC-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_api_record_paths_follow_the_record(cqms_backend, client, world):
    ines = bearer(client, "ines")
    far = f"{API}/records/acme_widget/{world.w102.id}"
    for path in ("", "/audit", "/signatures", "/links", "/attachments"):
        assert client.get(far + path, headers=ines).status_code == 404, path
    near = f"{API}/records/acme_widget/{world.w101.id}"
    links = client.get(f"{near}/links", headers=ines).get_json()
    assert [link["record"]["number"] for link in links] == [world.wglobal.number]
    gil = bearer(client, "gil")
    links = client.get(f"{near}/links", headers=gil).get_json()
    assert {link["record"]["number"] for link in links} == {world.w102.number,
                                                           world.wglobal.number}
    assert len(client.get(f"{far}/signatures", headers=gil).get_json()) == 1


@pytest.mark.req("SEC-02", "P11-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_certified_copy_leaves_out_links_to_unreadable_records(cqms_backend, client, world):
    ines = bearer(client, "ines")
    response = client.get(f"{API}/records/acme_widget/{world.w101.id}/export",
                          query_string={"format": "certified-copy"}, headers=ines)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    links = json.loads(archive.read("links.json"))
    trail = json.loads(archive.read("audit-trail.json"))
    assert [link["target"]["number"] for link in links] == [world.wglobal.number]
    keys = {(e["entity_type"], e["entity_id"]) for e in trail}
    assert not keys & world.hidden
    assert {k for k in world.shown if k[0] == "core_record_link"} <= keys
    for member in ("audit-trail.json", "links.json", "record.json"):
        assert world.w102.number not in archive.read(member).decode(), member


# -- the admin audit viewer and its CSV export ---------------------------------------------------


@pytest.mark.req("SEC-02", "E6-15")
@pytest.mark.backends("sqlite", "postgresql")
def test_admin_viewer_and_csv_show_only_entries_of_readable_records(cqms_backend, app, world):
    scoped, everyone = app.test_client(), app.test_client()
    login(scoped, "ines")
    login(everyone, "gil")
    assert_scoped(world, viewer_trail(scoped))
    assert_scoped(world, csv_trail(scoped))
    assert_everything(world, viewer_trail(everyone))
    assert_everything(world, csv_trail(everyone))
    page = scoped.get("/admin/core_audit/", query_string={"record": world.w102.number})
    assert page.status_code == 400 and world.w102.title not in page.get_data(as_text=True)


# -- tasks and notifications ---------------------------------------------------------------------


@pytest.mark.req("SEC-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_tasks_of_unreadable_records_are_not_listed(cqms_backend, app, client, world):
    ines = bearer(client, "ines")
    for assignee in ("me", "team"):
        items = client.get(f"{API}/tasks", query_string={"assignee": assignee},
                           headers=ines).get_json()["items"]
        titles = {t["title"] for t in items}
        assert "Check widget 101" in titles and "Check the global widget" in titles, assignee
        assert not {"Check widget 102", "Review widget 102 at 101"} & titles, assignee
    web = app.test_client()
    login(web, "ines")
    for url in ("/admin/core_tasks/", "/admin/core_team_tasks/", "/admin/"):
        text = web.get(url).get_data(as_text=True)
        assert "Check widget 101" in text, url
        assert "widget 102" not in text, url
    gil = bearer(client, "gil")
    titles = {t["title"] for t in client.get(f"{API}/tasks", headers=gil).get_json()["items"]}
    assert "Check widget 102" in titles


@pytest.mark.req("SEC-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_notifications_of_unreadable_records_are_not_shown(cqms_backend, app, world):
    web = app.test_client()
    login(web, "ines")
    text = web.get("/admin/core_notifications/").get_data(as_text=True)
    assert "About widget 101" in text and "Hello everyone" in text
    assert "About widget 102" not in text
    assert unread_count(world.ines) == 2
    assert unread_count(world.gil) == 3
    everyone = app.test_client()
    login(everyone, "gil")
    assert "About widget 102" in everyone.get("/admin/core_notifications/").get_data(
        as_text=True)


@pytest.mark.req("SEC-02")
def test_a_scoped_holder_of_the_audit_permission_sees_no_account_entries(client, world):
    """Entries about accounts and roles need ``core.audit.view`` held globally."""
    ines, gil = bearer(client, "ines"), bearer(client, "gil")
    assert api_trail(client, ines, entity_type="core_user_role") == []
    granted = api_trail(client, gil, entity_type="core_user_role")
    assert len(granted) == db.session.query(AuditEntry).filter_by(
        entity_type="core_user_role").count()


@pytest.mark.req("SEC-02")
@pytest.mark.backends("sqlite", "postgresql")
def test_readers_of_every_record_see_all_their_entries(cqms_backend, client, make_user, world):
    """Who reads every record (no read_filter applies to editors) sees every entry about
    records; entries about no record still need the audit permission held globally."""
    ada = make_user("ada", "approver")
    inspector = db.session.scalar(select(Role).where(Role.key == "inspector"))
    assign_role(ada, inspector, reason="test set-up", site=world.w101.site)
    make_user("root", "approver", "inspector")
    db.session.commit()
    secret = ("acme_widget", str(world.secret.id))
    scoped = set(api_trail(client, bearer(client, "ada")))
    assert world.hidden | world.shown | {secret} <= scoped
    assert not [k for k in scoped if k[0] in NO_RECORD]
    everything = api_trail(client, bearer(client, "root"))
    assert len(everything) == db.session.query(AuditEntry).count()  # the whole trail

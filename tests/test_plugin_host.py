"""The plugin host: allow-listed loading, ``REQUIRES``, audited enable/disable, startup validation
and the ``core`` facade. Apps are real (``app_factory``); throwaway plugins come from
``temp_plugin``; the database is real and shared between app instances where a test says so."""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Blueprint
from flask_admin import BaseView, expose
from sqlalchemy import Integer, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import core
from core import (
    AdminView,
    ConflictError,
    DashboardWidget,
    Permission,
    RoleTemplate,
    SettingSpec,
    StartupError,
    ValidationError,
    defaults,
    login_only,
)
from core.audit.models import AuditEntry
from core.plugins import PluginHost, PluginState, installed_entry_points
from core.settings import Setting, get_setting
from core.testing import csrf_token
from core.validation.gate import require_approved_summary

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ["documents", "training", "capa", "audits"]


# -- helpers ----------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def toggle(client, key: str, action: str, reason: str | None = "Validated for release 2026.1",
           **kwargs):
    """Press Enable/Disable on the Plugins page (with CSRF token and reason)."""
    data = {"csrf_token": csrf_token(client, "/admin/core_plugins/")}
    if reason is not None:
        data["reason"] = reason
    return client.post(f"/admin/core_plugins/{key}/{action}", data=data, **kwargs)


def plugin_entries(db, key: str) -> list[AuditEntry]:
    stmt = (select(AuditEntry)
            .where(AuditEntry.entity_type == "core_plugin_state", AuditEntry.entity_id == key)
            .order_by(AuditEntry.id))
    return list(db.session.scalars(stmt))


def stored_state(db, key: str) -> bool | None:
    row = db.session.get(PluginState, key)
    return None if row is None else row.enabled


def menu_links(client) -> set[str]:
    body = client.get("/admin/").get_data(as_text=True)
    return set(re.findall(r'href="(/admin/[^"]+)"', body))


def audit_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.fixture
def admin_client(app, make_user, login):
    make_user("alice", "system_admin")
    client = app.test_client()
    assert login(client, "alice").status_code == 302
    return client


# -- a throwaway plugin with a page of every kind ---------------------------------------------


class GadgetView(BaseView):
    @expose("/")
    def index(self):
        return "gadget admin page"


def gadget_context(user):
    return {"user": user, "assignments": []}


@pytest.fixture
def acme(temp_plugin):
    """Plugin ``acme``: a permission granted to system administrators, an admin page, a
    blueprint route and a dashboard card."""
    blueprint = Blueprint("acme", __name__, url_prefix="/acme")

    @blueprint.route("/")
    @login_only
    def home():
        return "acme home"

    return temp_plugin(
        "acme",
        "Gadget register.\n\nKeeps track of gadgets.",
        register_permissions=lambda: [Permission("acme.view", "See gadgets")],
        register_roles=lambda: [RoleTemplate("system_admin", None, ("acme.view",))],
        register_settings=lambda: [SettingSpec("acme.limit", "int", 5, "Gadgets", minimum=1)],
        register_blueprints=lambda: [blueprint],
        register_admin_views=lambda: [
            AdminView(GadgetView, "Gadgets", "acme_gadgets", "acme.view", category="Gadgets")
        ],
        register_dashboard_widgets=lambda: [
            DashboardWidget("acme_card", "Gadgets", "acme.view", "core/widget_account.html",
                            gadget_context)
        ],
        __version__="1.2.3",
    )


# -- allow-listed loading ---------------------------------------------------------------------


@pytest.mark.req("SEC-14")
def test_only_allowed_entry_points_are_imported(tmp_path):
    """A fresh interpreter: the not-allowed built-in plugins are reported and never imported."""
    script = (
        "import json, sys\n"
        "from core.app import create_app\n"
        "app = create_app({'ENV': 'testing', 'DATABASE_URL': sys.argv[1],"
        " 'INSTANCE_PATH': sys.argv[2], 'PLUGINS': ['documents']}, environ={})\n"
        "host = app.extensions['cqms'].host\n"
        "print(json.dumps({'loaded': list(host.plugins), 'not_allowed': host.not_allowed,"
        " 'modules': sorted(m for m in sys.modules if m.startswith('plugins.'))}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'x.sqlite3'}", str(tmp_path / "i")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == ["core", "documents"]
    assert report["not_allowed"] == ["audits", "capa", "training"]
    assert "plugins.documents.plugin" in report["modules"]
    assert {m.split(".")[1] for m in report["modules"]} == {"documents"}  # its own modules only


@pytest.mark.req("SEC-14")
@pytest.mark.backends("sqlite", "postgresql")
def test_not_allowed_plugins_are_reported_and_never_called(app_factory, temp_plugin, make_user,
                                                            login):
    calls = []
    rogue = temp_plugin(
        "rogue",
        register_permissions=lambda: calls.append("called") or [Permission("rogue.x", "x")],
    )
    app = app_factory(plugins=["documents"], extra_plugins={"rogue": rogue})
    host = app.extensions["cqms"].host
    assert set(installed_entry_points()) >= set(BUILTIN)
    assert list(host.plugins) == ["core", "documents"]
    assert host.not_allowed == ["audits", "capa", "rogue", "training"]
    assert calls == []
    registry = app.extensions["cqms"].registry
    assert not any(p.startswith(("rogue.", "capa.", "training.", "audits."))
                   for p in registry.permissions)
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/admin/documents_settings/" in rules and "/admin/capa_settings/" not in rules

    with app.app_context():
        make_user("alice", "system_admin")
    client = app.test_client()
    login(client, "alice")
    page = text_of(client.get("/admin/core_plugins/"))
    assert "not loaded): audits, capa, rogue, training" in page
    assert 'id="plugin-documents"' in page and 'id="plugin-capa"' not in page
    assert client.get("/admin/capa_settings/").status_code == 404
    assert host.is_enabled("capa") is False and host.enabled_keys() == ["core", "documents"]
    with app.app_context():
        with pytest.raises(ValidationError, match="not allowed in this deployment"):
            host.set_enabled("capa", True, "try")


def test_listed_but_not_installed_plugin_stops_startup(app_factory):
    with pytest.raises(StartupError, match="plugin 'nonesuch' is listed in PLUGINS but is not "
                                           "installed"):
        app_factory(plugins=["documents", "nonesuch"])
    with pytest.raises(StartupError, match="'core' is always loaded"):
        app_factory(plugins=["core"])


def test_plugin_order_and_inventory_follow_the_configuration(app_factory, make_user, login):
    app = app_factory(plugins=["capa", "documents"])
    host = app.extensions["cqms"].host
    assert list(host.plugins) == ["core", "capa", "documents"]
    capa = host.plugins["capa"]
    assert capa.title == "Quality events and CAPA" and capa.builtin
    assert capa.version == host.plugins["core"].version
    assert "register_permissions" in capa.hooks and "register_commands" not in capa.hooks
    with app.app_context():
        make_user("alice", "system_admin")
    client = app.test_client()
    login(client, "alice")
    page = text_of(client.get("/admin/core_plugins/"))
    assert page.index('id="plugin-capa"') < page.index('id="plugin-documents"')
    row = page[page.index('id="plugin-capa"'):page.index('id="plugin-documents"')]
    assert capa.version in row and "register_settings" in row
    menu = client.get("/admin/").get_data(as_text=True)
    assert menu.index("/admin/capa_settings/") < menu.index("/admin/documents_settings/")


# -- REQUIRES ---------------------------------------------------------------------------------


def test_required_plugin_must_be_allowed_at_startup(app_factory, temp_plugin):
    needy = temp_plugin("needy", REQUIRES=("training",))
    with pytest.raises(StartupError, match="plugin 'needy' requires plugin 'training', which is "
                                           "not in PLUGINS"):
        app_factory(plugins=["documents", "needy"], extra_plugins={"needy": needy})


class TestRequires:
    """A plugin (``needy``) requiring capa: capa cannot be disabled under it, nor it enabled
    without capa."""

    @pytest.fixture
    def app_config(self, temp_plugin):
        return {"plugins": ["capa", "needy"],
                "extra_plugins": {"needy": temp_plugin("needy", REQUIRES=("capa",))}}

    def test_requires_is_enforced_by_set_enabled(self, app, db, system_actor):
        host = app.extensions["cqms"].host
        assert host.plugins["needy"].requires == ("capa",)

        with pytest.raises(ConflictError) as refused:
            host.set_enabled("capa", False, "Not used")
        assert str(refused.value) == ("Cannot disable 'capa': 'needy' requires it; "
                                      "disable that first.")
        assert stored_state(db, "capa") is None and host.is_enabled("capa")

        assert host.set_enabled("needy", False, "Module not validated yet")
        assert host.set_enabled("capa", False, "CAPA module not validated yet")
        db.session.commit()
        with pytest.raises(ConflictError) as refused:
            host.set_enabled("needy", True, "Go live")
        assert str(refused.value) == "Cannot enable 'needy': it requires 'capa'; enable that " \
                                     "first."
        assert stored_state(db, "needy") is False

        assert host.set_enabled("capa", True, "Validated")
        assert host.set_enabled("needy", True, "Validated")
        db.session.commit()
        assert host.enabled_keys() == ["core", "capa", "needy"]

    def test_requires_is_enforced_on_the_plugins_page(self, app, admin_client, db):
        page = toggle(admin_client, "capa", "disable", follow_redirects=True)
        assert "Cannot disable 'capa': 'needy' requires it; disable that first." in \
            text_of(page)
        assert stored_state(db, "capa") is None and plugin_entries(db, "capa") == []

        toggle(admin_client, "needy", "disable")
        toggle(admin_client, "capa", "disable")
        before = audit_count(db)
        page = toggle(admin_client, "needy", "enable", follow_redirects=True)
        body = text_of(page)
        assert "Cannot enable 'needy': it requires 'capa'; enable that first." in body
        assert re.search(r'id="plugin-needy".*?badge-secondary">disabled', body, re.S)
        db.session.expire_all()
        assert stored_state(db, "needy") is False and audit_count(db) == before


# -- enable / disable -------------------------------------------------------------------------


@pytest.mark.plugins("documents")
@pytest.mark.req("P11-13", "P11-05", "DI-A")
@pytest.mark.backends("sqlite", "postgresql")
def test_enable_and_disable_on_the_plugins_page_are_audited(app, admin_client, db):
    page = text_of(admin_client.get("/admin/core_plugins/"))
    assert 'id="disable-documents"' in page and 'id="disable-core"' not in page

    refused = toggle(admin_client, "documents", "disable", reason="  ", follow_redirects=True)
    assert "A reason is required to enable or disable a plugin." in text_of(refused)
    assert stored_state(db, "documents") is None and plugin_entries(db, "documents") == []

    started = datetime.now(UTC)
    done = toggle(admin_client, "documents", "disable", reason="Replaced by the eTMF",
                  follow_redirects=True)
    body = text_of(done)
    assert "Plugin documents disabled." in body
    assert 'id="enable-documents"' in body
    assert stored_state(db, "documents") is False

    rows = {e.field: e for e in plugin_entries(db, "documents")}
    assert rows["enabled"].action == "create" and rows["enabled"].new_value == "false"
    assert "key" not in rows and rows["enabled"].entity_id == "documents"  # the key is its id
    alice = rows["enabled"].actor_id
    for entry in rows.values():
        assert entry.actor_name == "Alice Tester (alice)" and entry.actor_id == alice
        assert entry.reason == "Replaced by the eTMF"
        assert started - timedelta(seconds=5) <= entry.at <= datetime.now(UTC)
        assert entry.request_id

    again = toggle(admin_client, "documents", "disable", follow_redirects=True)
    assert "Plugin documents was already disabled." in text_of(again)
    assert len(plugin_entries(db, "documents")) == len(rows)

    toggle(admin_client, "documents", "enable", reason="eTMF contract ended")
    last = plugin_entries(db, "documents")[-1]
    assert (last.action, last.field, last.old_value, last.new_value, last.reason) == (
        "update", "enabled", "false", "true", "eTMF contract ended")
    assert stored_state(db, "documents") is True


@pytest.mark.req("P11-04", "SEC-03")
def test_only_plugin_managers_may_toggle(app, db, make_user, login):
    make_user("quinn", "qa_manager")
    client = app.test_client()
    login(client, "quinn")
    assert client.get("/admin/core_plugins/").status_code == 403
    token = csrf_token(client, "/admin/core_settings/")
    response = client.post("/admin/core_plugins/documents/disable",
                           data={"csrf_token": token, "reason": "x"})
    assert response.status_code == 403

    make_user("alice", "system_admin")
    admin = app.test_client()
    login(admin, "alice")
    assert admin.post("/admin/core_plugins/documents/disable",
                      data={"reason": "no token"}).status_code == 400
    assert admin.post("/admin/core_plugins/documents/remove",
                      data={"csrf_token": token, "reason": "x"}).status_code in (400, 404)
    assert stored_state(db, "documents") is None


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("P11-13")
def test_set_enabled_service(app, db, system_actor):
    host = app.extensions["cqms"].host
    with pytest.raises(ValidationError, match="The core cannot be disabled"):
        host.set_enabled("core", False, "why not")
    with pytest.raises(ValidationError, match="Plugin 'nonesuch' is not allowed"):
        host.set_enabled("nonesuch", True, "x")
    with pytest.raises(ValidationError, match="A reason is required"):
        host.set_enabled("training", False, " ")
    assert host.set_enabled("training", True, "already on") is False  # no change, no entry
    assert plugin_entries(db, "training") == []

    assert host.set_enabled("training", False, "  LMS migration  ") is True
    db.session.commit()
    assert stored_state(db, "training") is False and not host.is_enabled("training")
    [entry] = [e for e in plugin_entries(db, "training") if e.field == "enabled"]
    assert entry.actor_id == system_actor.actor_id and entry.actor_name == "CQMS system (system)"
    assert entry.reason == "LMS migration" and entry.client == "pytest"
    assert host.enabled_keys() == ["core", "documents", "capa", "audits"]


@pytest.mark.plugins("documents")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_toggle_reaches_another_app_instance_without_restart(app, app_factory, db, make_user,
                                                               login):
    make_user("alice", "system_admin")
    other = app_factory()  # a second worker on the same database (schema set-up is idempotent)
    assert other is not app
    first, second = app.test_client(), other.test_client()

    def settle():
        # ``first``'s requests share the test body's app context and session (a harness detail:
        # a real request ends its transaction at teardown). End it, so ``first`` releases the
        # SQLite write lock and its next request reads the database afresh.
        db.session.commit()

    login(first, "alice")
    settle()
    login(second, "alice")
    assert second.get("/admin/documents_settings/").status_code == 200

    toggle(first, "documents", "disable", reason="Paused during migration")
    settle()
    assert second.get("/admin/documents_settings/").status_code == 404
    assert "/admin/documents_settings/" not in menu_links(second)
    assert "Document control" not in text_of(second.get("/admin/core_settings/"))

    response = toggle(second, "documents", "enable", reason="Migration finished",
                      follow_redirects=True)
    assert "Plugin documents enabled." in text_of(response)
    settle()
    assert first.get("/admin/documents_settings/").status_code == 200
    assert "/admin/documents_settings/" in menu_links(first)
    reasons = [e.reason for e in plugin_entries(db, "documents") if e.field == "enabled"]
    assert reasons == ["Paused during migration", "Migration finished"]


@pytest.mark.plugins("documents", "training")
def test_disabled_plugin_settings_page_is_gone_and_its_data_kept(admin_client, db):
    url = "/admin/documents_settings/"
    saved = admin_client.post(url, data={
        "csrf_token": csrf_token(admin_client, url), "documents.review_interval_months": "36",
        "documents.review_reminder_days": "30", "documents.retain_obsolete_for_months": "120",
        "documents.review_due_days": "10", "documents.approval_due_days": "5",
        "documents.effective_due_days": "5", "reason": "SOP-QA-001 v4",
    })
    assert saved.status_code == 302
    assert url in menu_links(admin_client)

    toggle(admin_client, "documents", "disable")
    assert admin_client.get(url).status_code == 404
    assert admin_client.post(url, data={"csrf_token": csrf_token(admin_client, "/admin/"),
                                        "documents.review_interval_months": "12",
                                        "reason": "x"}).status_code == 404
    assert url not in menu_links(admin_client)
    assert "/admin/training_settings/" in menu_links(admin_client)
    assert db.session.get(Setting, "documents.review_interval_months").value == "36"

    toggle(admin_client, "documents", "enable")
    page = admin_client.get(url)
    assert page.status_code == 200 and 'value="36"' in page.get_data(as_text=True)
    assert url in menu_links(admin_client)
    assert get_setting("documents.review_interval_months") == 36


def test_disabling_hides_a_plugins_admin_view_blueprint_and_widget(app_factory, acme, make_user,
                                                                   login):
    app = app_factory(plugins=["documents", "acme"], extra_plugins={"acme": acme})
    host = app.extensions["cqms"].host
    assert host.plugins["acme"].version == "1.2.3"
    assert host.plugins["acme"].title == "Gadget register"
    with app.app_context():
        make_user("alice", "system_admin")
        make_user("tina", "trainee")
    client = app.test_client()
    login(client, "alice")

    def visible() -> dict[str, object]:
        dashboard = client.get("/admin/").get_data(as_text=True)
        return {
            "admin page": client.get("/admin/acme_gadgets/").status_code,
            "route": client.get("/acme/").status_code,
            "settings": client.get("/admin/acme_settings/").status_code,
            "menu": "/admin/acme_gadgets/" in dashboard,
            "widget": 'id="widget-acme_card"' in dashboard,
        }

    assert visible() == {"admin page": 200, "route": 200, "settings": 200, "menu": True,
                         "widget": True}
    trainee = app.test_client()
    login(trainee, "tina")
    assert trainee.get("/admin/acme_gadgets/").status_code == 403  # no acme.view
    assert 'id="widget-acme_card"' not in trainee.get("/admin/").get_data(as_text=True)

    toggle(client, "acme", "disable", reason="Retired")
    assert visible() == {"admin page": 404, "route": 404, "settings": 404, "menu": False,
                         "widget": False}
    assert trainee.get("/admin/acme_gadgets/").status_code == 404
    toggle(client, "acme", "enable", reason="Back")
    assert visible()["admin page"] == 200 and visible()["widget"] is True


# -- startup validation -----------------------------------------------------------------------


class _OtherBase(DeclarativeBase):
    """Kept apart from the core's metadata so the stray table never reaches other tests."""


class Gadget(_OtherBase):
    __tablename__ = "gadget"  # lacks the ``acme_`` prefix
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


def _view(endpoint: str, permission: str = "core.admin.access") -> AdminView:
    return AdminView(GadgetView, "Gadgets", endpoint, permission)


INVALID_PLUGINS = {
    "duplicate-permission": (
        {"register_permissions": lambda: [Permission("acme.view", "a"),
                                          Permission("acme.view", "b")]},
        "permission 'acme.view' declared twice",
    ),
    "permission-without-prefix": (
        {"register_permissions": lambda: [Permission("view_gadgets", "a")]},
        "permission 'view_gadgets' must start with 'acme.'",
    ),
    "permission-of-another-plugin": (
        {"register_permissions": lambda: [Permission("capa.close", "steal")]},
        "permission 'capa.close' must start with 'acme.'",
    ),
    "table-without-prefix": (
        {"register_models": lambda: [Gadget]},
        "table 'gadget' must start with 'acme_'",
    ),
    "not-a-model": (
        {"register_models": lambda: [dict]},
        "is not a mapped model",
    ),
    "role-with-unknown-permission": (
        {"register_roles": lambda: [RoleTemplate("acme_keeper", "Keeper", ("acme.nope",))]},
        "role 'acme_keeper' names unknown permission 'acme.nope'",
    ),
    "extension-with-unknown-permission": (
        {"register_roles": lambda: [RoleTemplate("qa_manager", None, ("acme.nope",))]},
        "role 'qa_manager' names unknown permission 'acme.nope'",
    ),
    "extends-unknown-role": (
        {"register_roles": lambda: [RoleTemplate("ghost", None, ())]},
        "extends unknown role 'ghost'",
    ),
    "duplicate-role": (
        {"register_roles": lambda: [RoleTemplate("qa_manager", "QA", ())]},
        "role 'qa_manager' already declared by 'core'",
    ),
    "setting-without-prefix": (
        {"register_settings": lambda: [SettingSpec("limit", "int", 1, "x")]},
        "setting 'limit' must start with 'acme.'",
    ),
    "setting-bad-type": (
        {"register_settings": lambda: [SettingSpec("acme.limit", "float", 1.0, "x")]},
        "setting 'acme.limit' has unknown type 'float'",
    ),
    "setting-bad-default": (
        {"register_settings": lambda: [SettingSpec("acme.limit", "int", 0, "x", minimum=1)]},
        "Must be at least 1",
    ),
    "admin-endpoint-without-prefix": (
        {"register_admin_views": lambda: [_view("gadgets")]},
        "admin endpoint 'gadgets' must start with 'acme_'",
    ),
    "admin-view-unknown-permission": (
        {"register_admin_views": lambda: [_view("acme_gadgets", "acme.nope")]},
        "names unknown permission 'acme.nope'",
    ),
    "blueprint-without-prefix": (
        {"register_blueprints": lambda: [Blueprint("gadgets", __name__)]},
        "blueprint 'gadgets' must start with 'acme_'",
    ),
    "widget-unknown-permission": (
        {"register_dashboard_widgets": lambda: [
            DashboardWidget("acme_w", "W", "acme.nope", "core/widget_account.html", gadget_context)
        ]},
        "widget 'acme_w' names unknown permission 'acme.nope'",
    ),
    "wrong-return-type": (
        {"register_permissions": lambda: ["acme.view"]},
        "register_permissions must return Permission objects",
    ),
    "misspelt-hook": (
        {"register_permisions": lambda: []},
        "unknown hook 'register_permisions'",
    ),
    "unknown-hook-argument": (
        {"register_commands": lambda group: None},
        "Argument(s) {'group'} are declared in the hookimpl but can not be found in the hookspec",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_PLUGINS))
def test_startup_refuses_an_inconsistent_plugin_naming_it(app_factory, temp_plugin, case):
    hooks, message = INVALID_PLUGINS[case]
    broken = temp_plugin("acme", **hooks)
    with pytest.raises(StartupError) as refused:
        app_factory(plugins=["documents", "capa", "acme"], extra_plugins={"acme": broken},
                    schema=False)
    assert str(refused.value).startswith("plugin 'acme'"), str(refused.value)
    assert message in str(refused.value)


def test_a_valid_temp_plugin_starts_and_syncs_its_declarations(app_factory, acme, db):
    app = app_factory(plugins=["documents", "acme"], extra_plugins={"acme": acme})
    registry = app.extensions["cqms"].registry
    assert registry.permission_owner["acme.view"] == "acme"
    assert "acme.view" in registry.roles["system_admin"].permissions
    assert registry.setting_owner["acme.limit"] == "acme"
    with app.app_context():
        from core.users.models import Role

        admin = db.session.scalar(select(Role).where(Role.key == "system_admin"))
        assert "acme.view" in admin.permission_names


def test_the_host_alone_refuses_a_misspelt_hook_with_the_plugin_name(temp_plugin):
    with pytest.raises(StartupError, match=r"^plugin 'acme': .*register_rolez"):
        PluginHost(["acme"], core=defaults, enable_gate=require_approved_summary,
                   extra_plugins={"acme": temp_plugin("acme", register_rolez=lambda: [])})


# -- the core facade --------------------------------------------------------------------------


def plugin_modules() -> list[Path]:
    return sorted((ROOT / "plugins").rglob("*.py"))


def facade_offences(source: str, name: str) -> list[str]:
    """Imports of ``core.<submodule>``, and names ``core`` does not export, in ``source``."""
    offences = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
            if node.module == "core":
                missing = [a.name for a in node.names if a.name not in core.__all__]
                if missing:
                    offences.append(f"{name}:{node.lineno} imports {missing}, not in core.__all__")
        else:
            continue
        offences += [f"{name}:{node.lineno} imports {m}" for m in modules if m.startswith("core.")]
    return offences


def test_plugins_import_only_the_core_facade():
    modules = plugin_modules()
    assert len(modules) >= 12  # the four built-in plugins and their migrations
    offences = []
    for path in modules:
        offences += facade_offences(path.read_text(), str(path.relative_to(ROOT)))
    assert offences == []


def test_the_facade_exports_what_it_lists():
    for name in core.__all__:
        assert hasattr(core, name), name
    assert len(core.__all__) == len(set(core.__all__))


def test_facade_check_is_not_vacuous():
    sample = ("from core import hookimpl, Permission\nfrom core.db import db\n"
              "import core.settings\nfrom core import _private\nfrom . import models\n")
    assert facade_offences(sample, "x.py") == [
        "x.py:2 imports core.db",
        "x.py:3 imports core.settings",
        "x.py:4 imports ['_private'], not in core.__all__",
    ]

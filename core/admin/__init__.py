"""The admin UI: built by the core from declared views, each wrapped and ordered deterministically."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme

from core.admin import csp_templates
from core.admin.dashboard import DashboardView
from core.admin.protect import ProtectedLink, protect
from core.admin.records import record_admin_for
from core.admin.settings import SettingsView
from core.db import db
from core.permissions import ADMIN_ACCESS
from core.specs import AdminView
from core.state import CQMSState
from core.web import csp_nonce

SETTINGS_CATEGORY = "Settings"


def _settings_views(state: CQMSState) -> list[tuple[str, AdminView]]:
    """One settings page per plugin that declares settings, owned (and hidden) with the plugin."""
    views = []
    for key, info in state.host.plugins.items():
        if state.registry.settings_of(key):
            name = "Core" if key == "core" else info.title
            endpoint = "core_settings" if key == "core" else f"{key}_settings"
            views.append(
                (key, AdminView(SettingsView, name, endpoint, "core.settings.manage", None,
                                SETTINGS_CATEGORY, 100))
            )
    return views


def _record_views(state: CQMSState) -> list[tuple[str, AdminView]]:
    """One list and record page per record type that says who may view it."""
    views = []
    for key, rt in state.registry.record_types.items():
        if rt.view_permission:
            workflow = state.registry.workflows.get(rt.workflow)
            view = record_admin_for(rt, rt.view_permission,
                                    rt.manage_permission or rt.view_permission,
                                    workflow.states if workflow is not None else ())
            views.append((state.registry.record_type_owner[key],
                          AdminView(view, rt.label, rt.key, rt.view_permission, rt.model,
                                    rt.admin_category, 50)))
    return views


def build_admin(app: Flask, state: CQMSState) -> Admin:
    index = protect(DashboardView, ADMIN_ACCESS, "core")(name="Dashboard", url="/admin")
    admin = Admin(
        app,
        name="CQMS",
        index_view=index,
        theme=Bootstrap4Theme(base_template="core/admin_master.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    csp_templates.install(app, admin.theme.folder)
    state.admin = admin
    state.admin_endpoints.add("admin")
    order = {key: i for i, key in enumerate(state.host.plugins)}
    declared = sorted(
        [*state.registry.admin_views, *_record_views(state), *_settings_views(state)],
        key=lambda item: (order[item[0]], item[1].category or "", item[1].order, item[1].name),
    )
    for plugin, spec in declared:
        view_class = protect(spec.view, spec.permission, plugin)
        kwargs = {"name": spec.name, "category": spec.category, "endpoint": spec.endpoint}
        if spec.model is not None and issubclass(spec.view, ModelView):
            view = view_class(spec.model, db, **kwargs)
        elif spec.view is SettingsView:
            view = view_class(plugin_key=plugin, **kwargs)
        else:
            view = view_class(**kwargs)
        admin.add_view(view)
        state.admin_endpoints.add(spec.endpoint)
    for plugin, link in sorted(state.registry.admin_links, key=lambda item: item[1].order):
        admin.add_link(ProtectedLink(link.name, link.endpoint, link.permission, plugin,
                                     link.category))
    app.jinja_env.globals["cqms_menu"] = lambda: menu_of(admin)
    return admin


def menu_of(admin: Admin) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """The admin menu as the current user may use it: (name, url, children), for the pages
    outside the admin that show the same navigation bar (core/layout.html)."""
    entries: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for item in admin.menu():
        if item.is_category():
            children = [(child.name, child.get_url()) for child in item.get_children()
                        if child.is_accessible() and child.is_visible()]
            if children:
                entries.append((item.name, None, children))
        elif item.is_accessible() and item.is_visible():
            entries.append((item.name, item.get_url(), []))
    return entries

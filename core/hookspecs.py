"""The plugin contract: every hook a CQMS plugin may implement.

Names are stable. Arguments may be added (an implementation may accept fewer); a hook is never
renamed without a deprecation period. Startup hooks run once inside ``create_app()``, before
the first request, for every *allowed* plugin (enabled or not, so enabling needs no restart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Blueprint, Flask

    from core.specs import (
        AdminView,
        DashboardWidget,
        MigrationBranch,
        Permission,
        RoleTemplate,
        SettingSpec,
    )

PROJECT = "cqms"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Startup: declarations
# ---------------------------------------------------------------------------------------------


@hookspec
def register_models() -> list[type]:
    """Return the plugin's model classes. Called once at startup.

    Every table must carry the plugin prefix (``capa_action``); startup fails otherwise.

    Example::

        @hookimpl
        def register_models():
            return [CapaAction]
    """


@hookspec
def register_migrations() -> MigrationBranch:
    """Return the plugin's Alembic branch. Called by ``cqms db`` commands.

    The branch label is the plugin key; its root revision names ``depends_on`` the branches it
    needs (at least ``core``).

    Example::

        @hookimpl
        def register_migrations():
            return MigrationBranch("capa", Path(__file__).parent / "migrations" / "versions")
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions the plugin checks. Called once at startup.

    Names are ``<key>.<verb>``; they are stored by ``cqms db upgrade`` and granted through roles.

    Example::

        @hookimpl
        def register_permissions():
            return [Permission("capa.close", "Close a CAPA")]
    """


@hookspec
def register_roles() -> list[RoleTemplate]:
    """Return default role templates. Called once at startup; seeded by ``cqms db upgrade``.

    A role is created once with its template permissions and is then edited by administrators;
    a permission new to the database is granted to every template that lists it. ``label=None``
    extends a role declared elsewhere.

    Example::

        @hookimpl
        def register_roles():
            return [RoleTemplate("qa_manager", None, ("capa.close",))]
    """


@hookspec
def register_settings() -> list[SettingSpec]:
    """Return runtime settings, keys namespaced ``<key>.<name>``. Called once at startup.

    Values live in the database, are validated against the spec, and every change is audited.

    Example::

        @hookimpl
        def register_settings():
            return [SettingSpec("capa.default_due_days", "int", 30, "Days to close a CAPA")]
    """


# ---------------------------------------------------------------------------------------------
# Startup: web, admin and command line
# ---------------------------------------------------------------------------------------------


@hookspec
def register_blueprints() -> list[Blueprint]:
    """Return Flask blueprints named ``<key>`` or ``<key>_*``. Called once at startup.

    Every view must carry a policy (``core.requires(...)``, ``core.login_only`` or
    ``core.public``); a route without one is refused at runtime and fails the route-walk test.
    While the plugin is disabled its routes answer 404.

    Example::

        @hookimpl
        def register_blueprints():
            return [views.blueprint]
    """


@hookspec
def register_admin_views() -> list[AdminView]:
    """Return admin pages as data. Called once at startup.

    The core instantiates each view, adds login, permission and plugin-enabled checks, and
    orders menus (core first, then the configured plugin order, then ``order``).

    Example::

        @hookimpl
        def register_admin_views():
            return [AdminView(CapaAdmin, "CAPAs", "capa_capa", "capa.view", model=Capa)]
    """


@hookspec
def register_dashboard_widgets() -> list[DashboardWidget]:
    """Return dashboard cards. Called once at startup; rendered per user and permission.

    Example::

        @hookimpl
        def register_dashboard_widgets():
            return [DashboardWidget("capa_open", "Open CAPAs", "capa.view", "capa/w.html", ctx)]
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to ``cli``, the group ``cqms <key>``. Called once at startup.

    Example::

        @hookimpl
        def register_commands(cli):
            cli.add_command(export_capas)
    """


@hookspec
def app_ready(app: Flask) -> None:
    """Last wiring after every registry is final. Called once at the end of ``create_app``.

    Example::

        @hookimpl
        def app_ready(app):
            app.jinja_env.filters["capa_priority"] = priority_label
    """


def hook_names() -> list[str]:
    """Names of every hook in this contract (used by the docs and meta-tests)."""
    return sorted(
        name
        for name, value in globals().items()
        if callable(value) and hasattr(value, f"{PROJECT}_spec")
    )


__all__ = ["hookimpl", "hookspec", "hook_names", "PROJECT"]


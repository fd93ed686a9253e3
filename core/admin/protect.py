"""The wrapper the core puts around every admin view: login, permission and plugin-enabled checks."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app
from flask_admin.menu import MenuLink
from flask_login import current_user

from core.permissions import deny_anonymous, has_permission


class ProtectedView:
    """Mixed in front of each declared view class by ``build_admin``; plugins cannot forget it."""

    cqms_permission: str = ""
    cqms_plugin: str = "core"

    def _plugin_enabled(self) -> bool:
        return current_app.extensions["cqms"].host.is_enabled(self.cqms_plugin)

    def is_accessible(self) -> bool:
        return (
            current_user.is_authenticated
            and self._plugin_enabled()
            and has_permission(current_user, self.cqms_permission)
            and super().is_accessible()  # type: ignore[misc]
        )

    def is_visible(self) -> bool:
        return self._plugin_enabled() and super().is_visible()  # type: ignore[misc]

    def inaccessible_callback(self, name: Any, **kwargs: Any) -> Any:
        if not self._plugin_enabled():
            abort(404)
        if not current_user.is_authenticated:
            return deny_anonymous()
        abort(403)


def protect(view_class: type, permission: str, plugin: str) -> type:
    return type(
        f"Protected{view_class.__name__}",
        (ProtectedView, view_class),
        {"cqms_permission": permission, "cqms_plugin": plugin, "__module__": view_class.__module__},
    )


class ProtectedLink(MenuLink):
    """A declared ``AdminLink``: shown to holders of its permission while its plugin is on."""

    def __init__(self, name: str, endpoint: str, permission: str, plugin: str,
                 category: str | None) -> None:
        super().__init__(name, endpoint=endpoint, category=category)
        self.cqms_permission, self.cqms_plugin = permission, plugin

    def is_accessible(self) -> bool:
        return (current_user.is_authenticated
                and current_app.extensions["cqms"].host.is_enabled(self.cqms_plugin)
                and has_permission(current_user, self.cqms_permission))

    def is_visible(self) -> bool:
        return self.is_accessible()

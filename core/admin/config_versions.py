"""The configuration versions: every change of settings, role permissions and plugins, newest
first, with who, when, what changed and why (P11-13). Read-only: versions are append-only."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask_admin import BaseView, expose
from sqlalchemy import select

from core.config_versions import KINDS, ConfigVersion, active_version
from core.db import db
from core.records.models import Record
from core.settings import APPROVAL_REQUIRED, get_setting
from core.users.models import Role

SHOWN = 200


def propose_url() -> str:
    """Where a configuration change is proposed (the configuration change's create form)."""
    return url_for("core_config_change.create_view")


def target_names() -> dict[tuple[str, str], str]:
    """What a version changed, in words: a role by its label, a plugin by its title (a
    setting by its name, as on its settings page)."""
    plugins = current_app.extensions["cqms"].host.plugins
    names = {("plugin", key): info.title for key, info in plugins.items()}
    names.update({("role", role.key): f"{role.label} role" for role in Role.pick_list()})
    return names


class ConfigVersionsView(BaseView):
    @expose("/")
    def index(self) -> Any:
        versions = list(db.session.scalars(select(ConfigVersion)
                                           .order_by(ConfigVersion.number.desc()).limit(SHOWN)))
        ids = {v.change_id for v in versions if v.change_id}
        numbers = dict(db.session.execute(select(Record.id, Record.number)
                                          .where(Record.id.in_(ids))).all()) if ids else {}
        return self.render("core/admin/config_versions.html", versions=versions, kinds=KINDS,
                           changes=numbers, active=active_version(), shown=SHOWN,
                           names=target_names(),
                           approval_required=get_setting(APPROVAL_REQUIRED),
                           propose_url=propose_url())

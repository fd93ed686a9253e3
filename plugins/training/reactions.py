"""After-commit reactions: a role granted or revoked, a curriculum approved or retired, a
document version made effective. Each runs as the system principal and commits."""

from __future__ import annotations

from typing import Any

from core import db
from plugins.training import services

# While the plugin is disabled the host does not call these; the sweep training.sync catches up.


def role_changed(grant: Any) -> None:
    services.sync_user(grant.user)
    db.session.commit()


def curriculum_transitioned(curriculum: Any, transition: Any) -> None:
    if transition.name in ("approve", "retire", "revise"):
        services.sync_role(curriculum.role_key)
        db.session.commit()


def version_effective(document: Any, version: Any) -> None:
    services.version_became_effective(document, version)
    db.session.commit()

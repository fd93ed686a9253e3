"""A role's permission set: configuration, changed as a configuration version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.config_versions import record_config_version
from core.db import db
from core.settings import refuse_direct_change
from core.users.models import Permission, Role, RolePermission


def set_role_permissions(role: Role, names: set[str], *, approved_change: Any = None) -> bool:
    """Grant and withdraw so the role holds exactly ``names`` (each change audited, the whole
    a new configuration version); False when it already does. ``approved_change``: the
    approved configuration change being activated (required when approval is)."""
    current = {g.permission.name: g for g in role.grants}
    if set(current) == set(names):
        return False
    refuse_direct_change(f"The permissions of role {role.label}", approved_change)
    old = sorted(current)
    for name in set(current) - names:
        role.grants.remove(current[name])
    wanted = set(names) - set(current)
    if wanted:
        for perm in db.session.scalars(select(Permission).where(Permission.name.in_(wanted))):
            role.grants.append(RolePermission(permission=perm))
    db.session.flush()
    record_config_version("role", role.key, old, sorted(names),
                          getattr(approved_change, "id", None))
    return True

"""Brings the permission and role tables in line with what the loaded plugins declare.

Run by ``cqms db upgrade``. Roles are seeded once and then belong to the administrators: a
permission is granted to its template roles only when it first appears, so a grant an
administrator removed is never put back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.audit.context import audit_reason
from core.db import db
from core.users.models import Permission, Role, RolePermission
from core.users.service import ensure_system_user

if TYPE_CHECKING:
    from core.registry import Registry


def sync_registry(registry: Registry) -> dict[str, int]:
    """Insert new permissions and roles, grant new permissions to their template roles."""
    ensure_system_user()
    counts = {"permissions": 0, "roles": 0, "grants": 0}
    with audit_reason("Declared by an installed plugin (cqms db upgrade)"):
        stored = {p.name: p for p in db.session.scalars(select(Permission))}
        new_permissions: set[str] = set()
        for name, spec in registry.permissions.items():
            row = stored.get(name)
            if row is None:
                row = Permission(
                    name=name, description=spec.description, plugin=registry.permission_owner[name]
                )
                db.session.add(row)
                stored[name] = row
                new_permissions.add(name)
                counts["permissions"] += 1
            elif row.description != spec.description:
                row.description = spec.description
        roles = {r.key: r for r in db.session.scalars(select(Role))}
        for key, definition in registry.roles.items():
            role = roles.get(key)
            grant = definition.permissions & new_permissions
            if role is None:
                role = Role(key=key, label=definition.label, description=definition.description)
                db.session.add(role)
                counts["roles"] += 1
                grant = definition.permissions
            for name in sorted(grant):
                role.grants.append(RolePermission(permission=stored[name]))
                counts["grants"] += 1
        db.session.flush()
    return counts


def seed_reference_data(host: Any) -> list[str]:
    """Each enabled plugin's ``seed_reference_data`` (its first list entries), committed; the
    summaries they return."""
    with audit_reason("Reference data of an installed plugin (cqms db upgrade)"):
        summaries = host.hook_for_enabled("seed_reference_data")()
        db.session.commit()
    return [s for s in summaries if s]

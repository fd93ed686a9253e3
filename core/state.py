"""Per-app host state, kept in ``app.extensions["cqms"]`` (no module-global plugin state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from core.plugins import PluginHost
from core.registry import Registry


@dataclass
class CQMSState:
    host: PluginHost
    registry: Registry
    hasher: PasswordHasher
    totp_roles: frozenset[str]
    # Blueprint names of admin views: their access check lives in the wrapped view class.
    admin_endpoints: set[str] = field(default_factory=set)
    admin: Any = None
    # Blueprint names of the JSON API: bearer tokens only, problem+json errors.
    api_blueprints: set[str] = field(default_factory=set)
    # Callables(connection, report) that `cqms audit verify` runs after the chain check.
    reconcilers: list[Any] = field(default_factory=list)
    # API token id -> when this process last recorded its use (core.users.tokens).
    token_uses: dict[int, Any] = field(default_factory=dict)

    def totp_required(self, user: Any) -> bool:
        if not self.totp_roles:
            return False
        return any(a.role.key in self.totp_roles for a in user.active_assignments())

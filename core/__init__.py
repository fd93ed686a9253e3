"""CQMS core: the stable facade for plugin authors.

Plugins import only from here (``from core import hookimpl, Permission, Base``), never from
``core.<module>``; a test enforces it. Names listed in ``__all__`` follow a deprecation policy:
nothing is removed or renamed without a release that warns first.
"""

from flask_login import current_user

from core.audit.context import audit_reason
from core.audit.service import record_event
from core.db import Base, UTCDateTime, db, utcnow
from core.errors import ConflictError, CQMSError, PermissionDenied, StartupError, ValidationError
from core.hookspecs import hookimpl
from core.permissions import has_permission, login_only, public, requires
from core.settings import get_setting
from core.specs import (
    AdminView,
    DashboardWidget,
    MigrationBranch,
    Permission,
    RoleTemplate,
    SettingSpec,
)

__all__ = [
    "AdminView",
    "Base",
    "CQMSError",
    "ConflictError",
    "DashboardWidget",
    "MigrationBranch",
    "Permission",
    "PermissionDenied",
    "RoleTemplate",
    "SettingSpec",
    "StartupError",
    "UTCDateTime",
    "ValidationError",
    "audit_reason",
    "current_user",
    "db",
    "get_setting",
    "has_permission",
    "hookimpl",
    "login_only",
    "public",
    "record_event",
    "requires",
    "utcnow",
]


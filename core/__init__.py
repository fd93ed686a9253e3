"""CQMS core: the stable facade for plugin authors.

Plugins import only from here (``from core import hookimpl, Permission, Base``), never from
``core.<module>``; a test enforces it. Names listed in ``__all__`` follow a deprecation policy:
nothing is removed or renamed without a release that warns first: a name leaving ``__all__``
stays importable for one more minor version and warns (``DeprecationWarning``) when used, with
its replacement (``_DEPRECATED`` below; docs/plugin-author-guide.md, "Deprecations").
"""

import warnings
from typing import Any

from flask_login import current_user

from core.admin.base import CQMSModelView, csv_safe
from core.admin.charts import bar_chart
from core.api.checks import abort_problem, api_user, authorize_first, problem_responses
from core.attachments.service import add_attachment, attachments_of, open_attachment
from core.audit.context import audit_reason, current_reason
from core.audit.service import record_event
from core.cli.context import as_system
from core.db import Base, UTCDateTime, db, utcnow
from core.delegations.service import delegators_of
from core.due import add_months, due_text, is_overdue
from core.errors import (
    AuthenticationFailed,
    ConflictError,
    CQMSError,
    PermissionDenied,
    StartupError,
    ValidationError,
    WorkflowError,
)
from core.exports.audit import audit_export
from core.exports.render import render_html
from core.hookspecs import hookimpl
from core.jobs.service import JobRun, start_job
from core.notifications.service import notify
from core.permissions import (
    has_permission,
    login_only,
    may_act_in,
    public,
    requires,
    requires_any,
    scope_clause,
)
from core.plugins import call_hook, hook_implemented
from core.plugins import plugin_enabled as _plugin_enabled
from core.records.content import ServiceScope as _ServiceScope
from core.records.content import changed_fields as _changed_fields
from core.records.content import state_before_change
from core.records.items import RecordItem, items_of
from core.records.links import link_records, linked, links_of, unlink
from core.records.models import Record
from core.records.pages import readable_or_404, record_page_url
from core.records.rules import server_write
from core.records.service import create_record, may_read, update_record
from core.second_person.service import critical_field_checks, verify_field
from core.settings import get_setting
from core.signatures.forms import SignatureForm
from core.signatures.models import ATTESTATION_TEXT
from core.signatures.service import SignatureRequest, attest, has_attested, sign, signatures_of
from core.specs import (
    AdminLink,
    AdminView,
    AuditEventKind,
    DashboardWidget,
    ItemRules,
    JobFile,
    JobKind,
    LinkKind,
    MigrationBranch,
    Permission,
    RecordAction,
    RecordType,
    Reminder,
    Retention,
    RoleTemplate,
    SettingSpec,
    SignatureMeaning,
    Transition,
    Workflow,
)
from core.studies import Site, Study
from core.tasks.models import Task
from core.tasks.service import close_tasks, open_task, tasks_for, users_holding
from core.users.models import Role, User, UserRole
from core.users.service import ensure_system_user as system_user
from core.web.files import content_disposition, download_response
from core.workflows.categories import category_of, states_in
from core.workflows.service import available_transitions, perform_transition, transition

__all__ = [
    "ATTESTATION_TEXT",
    "AdminLink",
    "AdminView",
    "AuditEventKind",
    "AuthenticationFailed",
    "Base",
    "CQMSError",
    "CQMSModelView",
    "ConflictError",
    "DashboardWidget",
    "ItemRules",
    "JobFile",
    "JobKind",
    "JobRun",
    "LinkKind",
    "MigrationBranch",
    "Permission",
    "PermissionDenied",
    "Record",
    "RecordAction",
    "RecordItem",
    "RecordType",
    "Reminder",
    "Retention",
    "Role",
    "RoleTemplate",
    "SettingSpec",
    "SignatureForm",
    "SignatureMeaning",
    "SignatureRequest",
    "Site",
    "StartupError",
    "Study",
    "Task",
    "Transition",
    "UTCDateTime",
    "User",
    "UserRole",
    "ValidationError",
    "Workflow",
    "WorkflowError",
    "abort_problem",
    "add_attachment",
    "add_months",
    "api_user",
    "as_system",
    "attachments_of",
    "attest",
    "authorize_first",
    "audit_export",
    "audit_reason",
    "available_transitions",
    "bar_chart",
    "call_hook",
    "category_of",
    "close_tasks",
    "content_disposition",
    "create_record",
    "csv_safe",
    "current_reason",
    "critical_field_checks",
    "current_user",
    "db",
    "delegators_of",
    "download_response",
    "due_text",
    "get_setting",
    "has_attested",
    "has_permission",
    "hook_implemented",
    "hookimpl",
    "is_overdue",
    "items_of",
    "link_records",
    "linked",
    "links_of",
    "login_only",
    "may_act_in",
    "may_read",
    "notify",
    "open_attachment",
    "open_task",
    "perform_transition",
    "problem_responses",
    "public",
    "readable_or_404",
    "record_event",
    "record_page_url",
    "render_html",
    "requires",
    "requires_any",
    "scope_clause",
    "server_write",
    "sign",
    "state_before_change",
    "states_in",
    "signatures_of",
    "start_job",
    "system_user",
    "tasks_for",
    "transition",
    "unlink",
    "update_record",
    "users_holding",
    "utcnow",
    "verify_field",
]


# Names leaving the facade: (the object, the release that removes it, what to use instead).
_DEPRECATED: dict[str, tuple[Any, str, str]] = {
    "plugin_enabled": (_plugin_enabled, "0.3", "the host calls only enabled plugins, so "
                       "your hooks need no check; ask whether another plugin is there with "
                       "core.hook_implemented('<a hook it offers>')"),
    "ServiceScope": (_ServiceScope, "0.3", "declare server_fields on the RecordType and write "
                     "them inside core.server_write(type_key)"),
    "changed_fields": (_changed_fields, "0.3", "the changes argument of the validate_change "
                       "hook"),
}


def __getattr__(name: str) -> Any:
    """A deprecated name still answers, with a ``DeprecationWarning`` naming its replacement."""
    if name in _DEPRECATED:
        value, removed_in, instead = _DEPRECATED[name]
        warnings.warn(f"core.{name} is deprecated and goes in cqms {removed_in}: {instead}",
                      DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module 'core' has no attribute {name!r}")

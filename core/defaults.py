"""The core's own hook implementations: the core is a plugin like any other (key ``core``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.admin import charts
from core.admin.audit import AuditView
from core.admin.config_versions import ConfigVersionsView
from core.admin.dashboard import account_context, system_context
from core.admin.jobs import JobsView
from core.admin.notifications import NotificationsView, unread_for_current_user
from core.admin.plugins import PluginsView
from core.admin.reactions import ReactionsView
from core.admin.review_plans import StudyReviewPlanAdmin
from core.admin.roles import RoleAdmin
from core.admin.studies import SiteAdmin, StudyAdmin
from core.admin.tasks import MyTasksView, TeamTasksView
from core.admin.tokens import TokenAdmin
from core.admin.users import AssignmentAdmin, UserAdmin
from core.attachments.models import Attachment, AttachmentBlob
from core.audit.kinds import CORE_KINDS
from core.audit.models import AuditCheckpoint, AuditEntry
from core.config_changes import workflow as config_changes
from core.config_changes.models import ConfigurationChange
from core.config_changes.workflow import WORKFLOW as CONFIG_CHANGE
from core.config_versions import ConfigVersion
from core.delegations.models import Delegation
from core.due import overdue_records
from core.exports.audit import stamp_configuration_version
from core.exports.trail_check import PERMISSION as AUDIT_CHECK
from core.exports.trail_check import TRAIL_CHECK
from core.hookspecs import hookimpl
from core.jobs.models import Job
from core.notifications.models import Notification
from core.notifications.reminders import overdue_tasks
from core.permissions import ADMIN_ACCESS
from core.plugins import PluginState
from core.reactions.models import Reaction
from core.records.models import Counter, NumberClaim, Record, RecordLink
from core.records.numbering import next_number
from core.reviews import workflow as reviews
from core.reviews.models import AccessReviewLine, PeriodicReview, StudyReviewPlan
from core.reviews.pages import blueprint as reviews_blueprint
from core.reviews.pages import record_actions as review_actions
from core.reviews.workflow import WORKFLOW as REVIEW
from core.reviews.workflow import open_due_reviews
from core.second_person.views import blueprint as second_person_blueprint
from core.settings import Setting
from core.signatures.models import Signature, SignatureAttestation
from core.specs import (
    AdminLink,
    AdminView,
    AuditEventKind,
    DashboardWidget,
    JobKind,
    LinkKind,
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    RoleTemplate,
    SettingSpec,
    SignatureMeaning,
    Workflow,
)
from core.stamps import ChangeStamp
from core.studies import Site, Study
from core.tasks.models import Task
from core.users.models import ApiToken, PasswordHistory, Role, RolePermission, User, UserRole, UserSession
from core.users.models import Permission as PermissionModel
from core.validation import workflow as validation
from core.validation.awaiting import banners as validation_banners
from core.validation.models import ValidationSummary
from core.validation.workflow import WORKFLOW as VALIDATION
from core.web.files import blueprint as files_blueprint

TEAM_TASKS = "core.tasks.view_team"
VALIDATION_VIEW = "core.validation.view"
VALIDATION_APPROVE = "core.validation.approve"
REVIEWS_VIEW = "core.reviews.view"
REVIEWS_PERFORM = "core.reviews.perform"
CONFIG_VIEW, CONFIG_PROPOSE, CONFIG_APPROVE = (
    config_changes.VIEW, config_changes.PROPOSE, config_changes.APPROVE)

PERMISSIONS = [
    Permission(ADMIN_ACCESS, "Open the dashboard and the administration area"),
    Permission("core.users.view", "View user accounts and their roles"),
    Permission("core.users.manage", "Create, deactivate and unlock user accounts; assign roles"),
    Permission("core.roles.manage", "Edit the permissions of roles"),
    Permission("core.studies.view", "View studies and sites"),
    Permission("core.studies.manage", "Create and edit studies and sites"),
    Permission("core.plugins.manage", "Enable and disable plugins"),
    Permission("core.settings.manage", "Change runtime settings"),
    Permission("core.audit.view", "View the audit trail"),
    Permission(AUDIT_CHECK, "Check the whole audit trail's integrity from the audit page"),
    Permission(TEAM_TASKS, "See everyone's open tasks in your study/site scope (team view)"),
    Permission(VALIDATION_VIEW, "View validation summaries (trace matrix and test evidence)"),
    Permission(VALIDATION_APPROVE, "Approve or reject validation summaries (e-signature)"),
    Permission(REVIEWS_VIEW, "View periodic reviews (audit trail, user access)"),
    Permission(REVIEWS_PERFORM, "Perform and sign periodic reviews"),
    Permission(CONFIG_VIEW, "View configuration changes and configuration versions"),
    Permission(CONFIG_PROPOSE, "Propose, activate and withdraw configuration changes"),
    Permission(CONFIG_APPROVE, "Approve or reject configuration changes (e-signature)"),
    Permission("core.phi.view", "See protected health information in records (each view is "
               "recorded in the audit trail)"),
]

_EVERYONE = (ADMIN_ACCESS, "core.studies.view")

ROLES = [
    RoleTemplate(
        "system_admin",
        "System administrator",
        (
            ADMIN_ACCESS,
            "core.users.view",
            "core.users.manage",
            "core.roles.manage",
            "core.studies.view",
            "core.studies.manage",
            "core.plugins.manage",
            "core.settings.manage",
            "core.audit.view",
            AUDIT_CHECK,
            TEAM_TASKS,
            VALIDATION_VIEW,
            REVIEWS_VIEW,
            CONFIG_VIEW,
            CONFIG_PROPOSE,
        ),
        "Manages accounts, roles, plugins and settings; cannot author or sign GxP content.",
    ),
    RoleTemplate(
        "qa_manager",
        "QA manager",
        (*_EVERYONE, "core.users.view", "core.audit.view", AUDIT_CHECK, "core.settings.manage",
         TEAM_TASKS, VALIDATION_VIEW, VALIDATION_APPROVE, REVIEWS_VIEW, REVIEWS_PERFORM,
         CONFIG_VIEW, CONFIG_APPROVE, "core.phi.view"),
        "Owns the quality system: approves, closes and reviews quality records.",
    ),
    RoleTemplate("author", "Author", _EVERYONE, "Writes controlled documents and records."),
    RoleTemplate("reviewer", "Reviewer", _EVERYONE, "Reviews controlled documents."),
    RoleTemplate("approver", "Approver", _EVERYONE, "Approves controlled documents."),
    RoleTemplate("trainer", "Trainer", _EVERYONE, "Runs and records training."),
    RoleTemplate("trainee", "Trainee", _EVERYONE, "Completes assigned training."),
    RoleTemplate("auditor", "Auditor", _EVERYONE, "Plans and conducts audits."),
    RoleTemplate(
        "inspector",
        "Inspector (read-only)",
        (*_EVERYONE, "core.users.view", "core.audit.view", AUDIT_CHECK, VALIDATION_VIEW,
         REVIEWS_VIEW, CONFIG_VIEW),
        "Regulatory inspector or auditor with read-only access.",
    ),
    RoleTemplate(
        "site_monitor",
        "Site monitor",
        _EVERYONE,
        "Clinical research associate; usually scoped to one study site.",
    ),
]

SETTINGS = [
    SettingSpec("core.site_name", "str", "CQMS", "Name shown in the title bar and e-mails."),
    SettingSpec(
        "core.login_notice",
        "str",
        "Authorised use only. Activity in this system is recorded in an audit trail.",
        "Notice shown above the sign-in form (system use notification).",
    ),
    SettingSpec(
        "core.validation_required",
        "bool",
        False,
        "Enable a plugin only when an approved validation summary covers its installed code.",
    ),
    SettingSpec(
        "core.config_approval_required",
        "bool",
        False,
        "Change settings, role permissions and plugins only through an approved configuration "
        "change (proposed, approved with an e-signature by someone else, then activated).",
    ),
    SettingSpec("core.access_review_days", "int", 90,
                "Days between user-access reviews (a new one opens when the last is older).",
                minimum=1, maximum=366),
    SettingSpec("core.audit_review_days", "int", 30,
                "Days between audit-trail reviews (a new one opens when the last is older).",
                minimum=1, maximum=366),
    SettingSpec("core.system_review_days", "int", 365,
                "Days between system reviews (a new one opens when the last is older).",
                minimum=1, maximum=731),
    SettingSpec("core.inactive_account_days", "int", 90,
                "An account without a sign-in for this many days is flagged in access reviews.",
                minimum=1, maximum=3650),
    SettingSpec("core.mfa_reverify_days", "int", 365,
                "Days after which an authenticator not re-verified by its user is flagged as "
                "overdue (user page, user list, access reviews).", minimum=1, maximum=3650),
]


@hookimpl
def register_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def register_roles() -> list[RoleTemplate]:
    return ROLES


@hookimpl
def register_settings() -> list[SettingSpec]:
    return SETTINGS


@hookimpl
def register_models() -> list[type]:
    return [
        User,
        PermissionModel,
        Role,
        RolePermission,
        UserRole,
        UserSession,
        PasswordHistory,
        Study,
        Site,
        Setting,
        PluginState,
        AuditEntry,
        AuditCheckpoint,
        Record,
        Counter,
        NumberClaim,
        RecordLink,
        Signature,
        SignatureAttestation,
        Delegation,
        Attachment,
        AttachmentBlob,
        ApiToken,
        Task,
        Notification,
        ValidationSummary,
        PeriodicReview,
        AccessReviewLine,
        StudyReviewPlan,
        ConfigurationChange,
        ConfigVersion,
        Reaction,
        ChangeStamp,
        Job,
    ]


@hookimpl
def register_jobs() -> list[JobKind]:
    return [TRAIL_CHECK]


@hookimpl
def register_workflows() -> list[Workflow]:
    return [VALIDATION, REVIEW, CONFIG_CHANGE]


@hookimpl
def register_record_types() -> list[RecordType]:
    return [validation.record_type(), reviews.record_type(), config_changes.record_type()]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("core", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_blueprints() -> list[object]:
    return [files_blueprint, reviews_blueprint, second_person_blueprint]


@hookimpl
def record_page_actions(record: Any, user: Any) -> list[Any]:
    return review_actions(record, user)


@hookimpl
def register_admin_views() -> list[AdminView]:
    people, clinical, system = "People", "Studies", "System"
    return [
        AdminView(MyTasksView, "My tasks", "core_tasks", ADMIN_ACCESS, None, None, 10),
        AdminView(TeamTasksView, "Team tasks", "core_team_tasks", TEAM_TASKS, None, None, 20),
        AdminView(NotificationsView, "Notifications", "core_notifications", ADMIN_ACCESS, None,
                  None, 30),
        AdminView(JobsView, "My exports", "core_jobs", ADMIN_ACCESS, None, None, 35),
        AdminView(UserAdmin, "Users", "core_users", "core.users.view", User, people, 10),
        AdminView(
            AssignmentAdmin, "Role assignments", "core_assignments", "core.users.view", UserRole,
            people, 20,
        ),
        AdminView(RoleAdmin, "Roles", "core_roles", "core.users.view", Role, people, 30),
        AdminView(TokenAdmin, "API tokens", "core_api_tokens", "core.users.manage", ApiToken,
                  people, 40),
        AdminView(StudyAdmin, "Studies", "core_studies", "core.studies.view", Study, clinical, 10),
        AdminView(SiteAdmin, "Sites", "core_sites", "core.studies.view", Site, clinical, 20),
        AdminView(StudyReviewPlanAdmin, "Study audit-trail reviews", "core_study_review_plans",
                  "core.studies.view", StudyReviewPlan, clinical, 30),
        AdminView(PluginsView, "Plugins", "core_plugins", "core.plugins.manage", None, system, 10),
        AdminView(ReactionsView, "Reactions", "core_reactions", "core.plugins.manage", None,
                  system, 15),
        AdminView(AuditView, "Audit trail", "core_audit", "core.audit.view", AuditEntry, system, 30),
        AdminLink("System review report", "core_reviews.system_report_page", REVIEWS_VIEW,
                  system, 50),
        AdminView(ConfigVersionsView, "Configuration versions", "core_config_versions",
                  CONFIG_VIEW, None, system, 40),
    ]


@hookimpl
def register_dashboard_widgets() -> list[DashboardWidget]:
    def overdue(user):  # type: ignore[no-untyped-def]
        return {**charts.overdue_tasks_by_kind(user), "label": "Kind",
                "alt": "Bar chart of overdue tasks by kind", "empty": "No overdue tasks."}

    def by_state(user):  # type: ignore[no-untyped-def]
        return {**charts.records_by_state(user), "label": "Record type: state",
                "alt": "Bar chart of records by type and state", "empty": "No records yet."}

    def open_records(user):  # type: ignore[no-untyped-def]
        return {**charts.open_records_by_type(user), "label": "Record type",
                "alt": "Bar chart of open records by type", "empty": "No open records."}

    return [
        DashboardWidget("core_account", "Your account", ADMIN_ACCESS, "core/widget_account.html",
                        account_context, 1),
        DashboardWidget("core_system", "System", "core.users.view", "core/widget_system.html",
                        system_context, 2),
        DashboardWidget("core_overdue_tasks", "Overdue tasks by kind", ADMIN_ACCESS,
                        "core/widget_chart.html", overdue, 3),
        DashboardWidget("core_open_records", "Open records by type", ADMIN_ACCESS,
                        "core/widget_chart.html", open_records, 4),
        DashboardWidget("core_records_by_state", "Records by state", ADMIN_ACCESS,
                        "core/widget_chart.html", by_state, 5),
    ]


@hookimpl
def register_reminders() -> list[Reminder]:
    return [Reminder("core.overdue_records", "Open records past their due date: a task for "
                     "the owner, then for the escalation role", overdue_records),
            Reminder("core.overdue_tasks", "Overdue open tasks: remind whoever they are for",
                     overdue_tasks),
            Reminder("core.periodic_reviews", "Open the audit-trail and user-access reviews "
                     "when due", open_due_reviews)]


@hookimpl
def app_ready(app) -> None:  # type: ignore[no-untyped-def]
    app.jinja_env.globals["cqms_unread_notifications"] = unread_for_current_user
    app.jinja_env.globals["cqms_validation_banners"] = validation_banners
    app.after_request(stamp_configuration_version)


MEANINGS = [
    SignatureMeaning("authored", "Authored by", "The signer wrote the content."),
    SignatureMeaning("reviewed", "Reviewed by", "The signer reviewed the content."),
    SignatureMeaning("approved", "Approved by", "The signer approves the content for use."),
    SignatureMeaning("verified", "Verified by", "The signer verified the facts or the outcome."),
    SignatureMeaning("responsible", "Responsible", "The signer takes responsibility for it."),
    SignatureMeaning("read_and_understood", "Read and understood",
                     "The signer read the document and understood it."),
]


@hookimpl
def register_link_kinds() -> list[LinkKind]:
    # Any record may point at any other it relates to; plugins declare the specific kinds.
    return [LinkKind("relates_to", "relates to", "related to"),
            LinkKind("references", "references", "referenced by")]


@hookimpl
def register_audit_event_kinds() -> list[AuditEventKind]:
    return list(CORE_KINDS)


@hookimpl
def register_signature_meanings() -> list[SignatureMeaning]:
    return MEANINGS


@hookimpl(trylast=True)
def next_record_number(record_type, record):  # type: ignore[no-untyped-def]
    return next_number(record_type)

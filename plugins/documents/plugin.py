"""Wiring of the documents plugin (declarations only)."""

from pathlib import Path

from core import (
    AdminView,
    DashboardWidget,
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    RoleTemplate,
    SettingSpec,
    hookimpl,
)
from plugins.documents import (
    access,
    hookspecs,
    numbering,
    submit_views,  # noqa: F401 - registers its routes
)
from plugins.documents.admin import DocumentTypeAdmin
from plugins.documents.api import blp
from plugins.documents.commands import seed_types_command
from plugins.documents.dashboard import reviews_context, states_context, work_context
from plugins.documents.demo import load
from plugins.documents.links import LINK_KINDS, link_reasons
from plugins.documents.models import (
    SERVER_OWNED_VERSION_FIELDS,
    Document,
    DocumentType,
    DocumentVersion,
    VersionReviewer,
)
from plugins.documents.queries import document_by, version_in_effect, versions_in_effect
from plugins.documents.reactions import version_transitioned
from plugins.documents.reminders import periodic_review_sweep
from plugins.documents.revise_views import compare_action, revise_action
from plugins.documents.rules import change_problems, prepare_new_version
from plugins.documents.views import blueprint, page_actions
from plugins.documents.workflows import DOCUMENT_RETENTION, VERSION_RETENTION, WORKFLOWS


@hookimpl
def register_permissions():
    return [
        Permission("documents.view", "Read current effective documents"),
        Permission("documents.view_history", "Read superseded and obsolete versions"),
        Permission("documents.create", "Create documents and draft new versions"),
        Permission("documents.review", "Review document versions"),
        Permission("documents.approve", "Approve document versions"),
        Permission("documents.manage", "Manage document types, owners and periodic review"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, ("documents.view", "documents.view_history",
                                          "documents.review", "documents.approve",
                                          "documents.manage")),
        RoleTemplate("author", None, ("documents.view", "documents.create")),
        RoleTemplate("reviewer", None, ("documents.view", "documents.review")),
        # Approvers may return a version to draft (reject needs documents.review); a reviewer
        # of a version never approves it (see workflows.independent_approver).
        RoleTemplate("approver", None, ("documents.view", "documents.review",
                                        "documents.approve")),
        RoleTemplate("trainer", None, ("documents.view",)),
        RoleTemplate("trainee", None, ("documents.view",)),
        RoleTemplate("auditor", None, ("documents.view", "documents.view_history")),
        RoleTemplate("inspector", None, ("documents.view", "documents.view_history")),
        RoleTemplate("site_monitor", None, ("documents.view",)),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("documents.review_interval_months", "int", 24,
                    "Default months between periodic reviews of an effective document.",
                    minimum=1, maximum=120),
        SettingSpec("documents.review_reminder_days", "int", 30,
                    "Days before a periodic review falls due that its owner is reminded.",
                    minimum=0, maximum=365),
        SettingSpec("documents.retain_obsolete_for_months", "int", 120,
                    "Months an obsolete document without a type is kept before it may be "
                    "disposed of (types set their own).", minimum=0, maximum=1200),
        SettingSpec("documents.review_due_days", "int", 10,
                    "Days reviewers have to sign the review of a submitted version.",
                    minimum=1, maximum=365),
        SettingSpec("documents.approval_due_days", "int", 5,
                    "Days approvers have to approve a reviewed version.", minimum=1,
                    maximum=365),
        SettingSpec("documents.effective_due_days", "int", 5,
                    "Days QA has to make an approved version effective (from its planned "
                    "effective date when that is later).", minimum=0, maximum=365),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("documents", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_models():
    return [DocumentType, Document, DocumentVersion, VersionReviewer]


@hookimpl
def register_workflows():
    return WORKFLOWS


@hookimpl
def register_record_types():
    return [
        RecordType("documents_document", "Document", Document, "DOC", "documents_document",
                   retention=DOCUMENT_RETENTION,
                   controlled_fields=("document_type_id", "description"),
                   view_permission="documents.view", manage_permission="documents.create",
                   read_filter=access.document_read_filter, badge=access.badge,
                   admin_filters=access.document_filters(), admin_category="Documents",
                   fixed_fields=("document_type_id",), list_columns=("document_type",),
                   field_order=("document_type", "title", "description"),
                   help_texts={
                       "document_type": "Sets the prefix of the number (SOP, WI...); fixed once saved.",
                       "next_review_date": "Empty: set from the type's review interval when "
                                           "the document becomes effective.",
                       "distribution_roles": "Roles that must read and understand it, "
                                             "separated by commas (training follows).",
                   }),
        RecordType("documents_version", "Document version", DocumentVersion, "DOC",
                   "documents_version", retention=VERSION_RETENTION,
                   controlled_fields=("document_id", "version_label", "change_summary",
                                      "change_reason", "planned_effective_date",
                                      "training_required", "reviews_required"),
                   view_permission="documents.view", manage_permission="documents.create",
                   read_filter=access.version_read_filter, badge=access.badge,
                   admin_filters=access.version_filters(), admin_category="Documents",
                   scope_parent="document_id", server_fields=SERVER_OWNED_VERSION_FIELDS,
                   field_order=("document", "version_label", "change_summary",
                                "change_reason", "planned_effective_date"),
                   help_texts={
                       "version_label": "Empty: the next minor version (1.1 after 1.0). Use "
                                        "Revise on the document for a major one.",
                       "change_summary": "What changes, in a sentence readers understand.",
                       "change_reason": "Why it changes (a CAPA, an audit finding, a new "
                                        "regulation...).",
                       "reviews_required": "Signed reviews needed before approval (named "
                                           "reviewers: all of them).",
                   },
                   fixed_fields=("document_id", "version_label", "supersedes_id"),
                   frozen_states=("approved", "effective", "superseded", "obsolete"),
                   frozen_hint="an approved version never changes; revise the document instead",
                   prepare_new=prepare_new_version,
                   file_on_create="The version's file (PDF or Word; you may attach it later)"),
    ]


@hookimpl
def register_hookspecs():
    return [hookspecs]


@hookimpl
def documents_version_in_effect(document_id, at):
    return version_in_effect(document_id, at)


@hookimpl
def documents_document(document_id, number, title):
    return document_by(document_id=document_id, number=number, title=title)


@hookimpl
def documents_version_pdf_url(version_id):
    from flask import url_for

    return url_for("documents.version_pdf", version_id=version_id)


@hookimpl
def documents_versions_in_effect(document_ids):
    return versions_in_effect(document_ids)


@hookimpl
def register_reminders():
    return [Reminder("documents.periodic_review", "Documents due for periodic review",
                     periodic_review_sweep)]


@hookimpl
def register_blueprints():
    return [blueprint]


@hookimpl
def register_api_blueprints():
    return [blp]


@hookimpl
def record_page_actions(record, user):
    if record.type == "documents_document":
        return revise_action(record, user) + compare_action(record, user)
    return page_actions(record, user)


@hookimpl
def register_dashboard_widgets():
    return [DashboardWidget("documents_work", "Document control", "documents.view",
                            "documents/widget_work.html", work_context, 20),
            DashboardWidget("documents_by_state", "Documents by state", "documents.view",
                            "core/widget_chart.html", states_context, 21),
            DashboardWidget("documents_reviews", "Periodic reviews", "documents.view",
                            "documents/widget_reviews.html", reviews_context, 22)]


@hookimpl
def register_admin_views():
    return [AdminView(DocumentTypeAdmin, "Document types", "documents_type", "documents.view",
                      model=DocumentType, category="Documents")]


@hookimpl
def register_commands(cli):
    cli.add_command(seed_types_command)


@hookimpl
def next_record_number(record_type, record):
    if record_type.key == "documents_document":
        return numbering.document_number(record)
    if record_type.key == "documents_version":
        return numbering.version_number(record)
    return None


@hookimpl
def record_transitioned(record, transition, user):
    if record.type == "documents_version":
        version_transitioned(record, transition, user)


@hookimpl
def register_link_kinds():
    return list(LINK_KINDS)


@hookimpl
def validate_link(target, kind):
    return link_reasons(target, kind)


@hookimpl
def load_demo_data(users, passwords, study):
    return load(users, passwords, study)


@hookimpl
def validate_change(record, changes):
    return change_problems(record, changes)

"""Wiring of the documents plugin (declarations only)."""

from pathlib import Path

from core import MigrationBranch, Permission, RoleTemplate, SettingSpec, hookimpl


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
                                          "documents.approve", "documents.manage")),
        RoleTemplate("author", None, ("documents.view", "documents.create")),
        RoleTemplate("reviewer", None, ("documents.view", "documents.review")),
        RoleTemplate("approver", None, ("documents.view", "documents.approve")),
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
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("documents", Path(__file__).parent / "migrations" / "versions")

"""Wiring of the training plugin (declarations only)."""

from pathlib import Path

from core import MigrationBranch, Permission, RoleTemplate, SettingSpec, hookimpl


@hookimpl
def register_permissions():
    return [
        Permission("training.view", "See one's own training and assignments"),
        Permission("training.view_matrix", "See the training matrix and training records of others"),
        Permission("training.manage", "Manage curricula and assignments"),
        Permission("training.record_completion", "Record completion of instructor-led training"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, ("training.view", "training.view_matrix", "training.manage")),
        RoleTemplate("trainer", None, ("training.view", "training.view_matrix",
                                       "training.record_completion")),
        RoleTemplate("trainee", None, ("training.view",)),
        RoleTemplate("author", None, ("training.view",)),
        RoleTemplate("reviewer", None, ("training.view",)),
        RoleTemplate("approver", None, ("training.view",)),
        RoleTemplate("auditor", None, ("training.view", "training.view_matrix")),
        RoleTemplate("inspector", None, ("training.view", "training.view_matrix")),
        RoleTemplate("site_monitor", None, ("training.view",)),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("training.default_due_days", "int", 30,
                    "Days a trainee has to complete a new assignment.", minimum=1, maximum=365),
        SettingSpec("training.gate_signatures", "bool", False,
                    "Refuse signatures on records governed by an SOP the signer is not trained on."),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("training", Path(__file__).parent / "migrations" / "versions")

"""Wiring of the CAPA plugin (declarations only)."""

from pathlib import Path

from core import MigrationBranch, Permission, RoleTemplate, SettingSpec, hookimpl


@hookimpl
def register_permissions():
    return [
        Permission("capa.view", "See quality events and CAPAs"),
        Permission("capa.create", "Report quality events and propose CAPAs"),
        Permission("capa.approve", "Approve CAPA plans and effectiveness checks"),
        Permission("capa.close", "Close quality events and CAPAs"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, ("capa.view", "capa.create", "capa.approve", "capa.close")),
        RoleTemplate("author", None, ("capa.view", "capa.create")),
        RoleTemplate("auditor", None, ("capa.view", "capa.create")),
        RoleTemplate("inspector", None, ("capa.view",)),
        RoleTemplate("site_monitor", None, ("capa.view", "capa.create")),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("capa.default_due_days", "int", 30,
                    "Days to complete a CAPA action when no due date is given.",
                    minimum=1, maximum=365),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("capa", Path(__file__).parent / "migrations" / "versions")

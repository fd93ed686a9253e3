"""Wiring of the audits plugin (declarations only)."""

from pathlib import Path

from core import MigrationBranch, Permission, RoleTemplate, SettingSpec, hookimpl

# Findings are answered with CAPAs, so audits cannot run without the CAPA plugin.
REQUIRES = ("capa",)


@hookimpl
def register_permissions():
    return [
        Permission("audits.view", "See the audit programme, audits and findings"),
        Permission("audits.plan", "Plan the audit programme and audits"),
        Permission("audits.conduct", "Conduct audits and record findings"),
        Permission("audits.approve_report", "Approve and sign audit reports"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, ("audits.view", "audits.plan", "audits.approve_report")),
        RoleTemplate("auditor", None, ("audits.view", "audits.conduct")),
        RoleTemplate("inspector", None, ("audits.view",)),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("audits.finding_response_days", "int", 30,
                    "Days an auditee has to respond to a finding.", minimum=1, maximum=365),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("audits", Path(__file__).parent / "migrations" / "versions")

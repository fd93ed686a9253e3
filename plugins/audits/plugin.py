"""Wiring of the audits plugin (declarations only)."""

from pathlib import Path

from core import (
    AdminLink,
    AdminView,
    DashboardWidget,
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    Retention,
    RoleTemplate,
    SettingSpec,
    hookimpl,
)
from plugins.audits import pages
from plugins.audits.admin import TemplateAdmin
from plugins.audits.dashboard import audits_context
from plugins.audits.demo import load
from plugins.audits.models import (
    AUDIT_TYPES,
    CLASSIFICATIONS,
    Audit,
    AuditProgramme,
    ChecklistAnswer,
    ChecklistTemplate,
    Finding,
    InspectionRequest,
    PlannedAudit,
    TeamMember,
)
from plugins.audits.reference import seed
from plugins.audits.reminders import audits_sweep, responses_sweep, verifications_sweep
from plugins.audits.rules import change_problems, prepare_new_finding
from plugins.audits.workflows import WORKFLOWS

VIEW, PLAN, CONDUCT, APPROVE = ("audits.view", "audits.plan", "audits.conduct",
                                "audits.approve_report")


@hookimpl
def register_permissions():
    return [
        Permission(VIEW, "See the audit programme, audits and findings"),
        Permission(PLAN, "Plan the audit programme and audits"),
        Permission(CONDUCT, "Conduct audits and record findings"),
        Permission(APPROVE, "Approve programmes and audit reports, justify objectivity"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, (VIEW, PLAN, APPROVE)),
        RoleTemplate("auditor", None, (VIEW, PLAN, CONDUCT)),
        RoleTemplate("inspector", None, (VIEW,)),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("audits.finding_response_days", "int", 30,
                    "Days an auditee has to respond to a finding.", minimum=1, maximum=365),
        SettingSpec("audits.verification_days", "int", 30,
                    "Days after the response that the finding's verification is due.",
                    minimum=1, maximum=365),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("audits", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_models():
    return [ChecklistTemplate, AuditProgramme, PlannedAudit, Audit, TeamMember,
            ChecklistAnswer, InspectionRequest, Finding]


@hookimpl
def register_workflows():
    return WORKFLOWS


@hookimpl
def register_record_types():
    return [
        RecordType(
            "audits_programme", "Audit programme", AuditProgramme, "AP", "audits_programme",
            retention=Retention(years=15),
            controlled_fields=("period_start", "period_end", "scope", "plan"),
            number_per_year=True, view_permission=VIEW, manage_permission=PLAN,
            admin_category="Audits", server_fields=("plan",), items=(PlannedAudit,),
            frozen_states=("closed",), frozen_hint="a closed programme never changes",
            list_columns=("period_start", "period_end"),
            labels={"period_start": "Period from", "period_end": "Period to",
                    "plan": "Planned audits"},
            help_texts={"scope": "Studies, sites, vendors and processes it covers."}),
        RecordType(
            "audits_audit", "Audit", Audit, "AUD", "audits_audit", retention=Retention(years=15),
            controlled_fields=("audit_type", "auditee", "scope_text", "criteria",
                               "planned_date", "objectivity_justification", "summary",
                               "conclusions", "distribution"),
            number_per_year=True, view_permission=VIEW, manage_permission=PLAN,
            admin_category="Audits",
            server_fields=("started_on", "ended_on", "checklist_id"),
            items=(TeamMember, ChecklistAnswer, InspectionRequest),
            frozen_states=("closed", "cancelled"), frozen_hint="a closed audit never changes",
            list_columns=("audit_type", "auditee"),
            create_fields=("audit_type", "auditee", "scope_text", "criteria", "planned_date"),
            field_order=("title", "audit_type", "auditee", "study", "site", "scope_text",
                         "criteria", "planned_date", "objectivity_justification", "summary",
                         "conclusions", "distribution"),
            labels={"audit_type": "Type", "scope_text": "Scope", "planned_date": "Planned",
                    "started_on": "Started", "ended_on": "Fieldwork ended",
                    "checklist_id": "Checklist template",
                    "objectivity_justification": "Objectivity justification"},
            help_texts={"auditee": "The site, vendor, system or process audited.",
                        "objectivity_justification": "Only when an auditor is also audited: "
                                                     "why they may still audit (QA signs it)."},
            choices={"audit_type": AUDIT_TYPES}),
        RecordType(
            "audits_finding", "Finding", Finding, "FND", "audits_finding", retention=Retention(years=15),
            controlled_fields=("classification", "requirement_ref", "evidence", "response",
                               "response_due", "proposed_actions", "verification"),
            number_per_year=True, view_permission=VIEW, manage_permission=CONDUCT,
            admin_category="Audits", due_field="response_due", scope_parent="audit_id",
            due_by_state={"responded": "verification_due"}, fixed_fields=("audit_id",),
            server_fields=("responded_at", "verification_due", "verified_at"),
            frozen_states=("closed", "withdrawn"), frozen_hint="a closed finding never changes",
            prepare_new=prepare_new_finding,
            list_columns=("classification", "audit"),
            labels={"audit_id": "Audit", "requirement_ref": "Requirement",
                    "response_due": "Response due", "proposed_actions": "Proposed actions",
                    "responded_at": "Responded (UTC)", "verification_due": "Verification due",
                    "verified_at": "Verified (UTC)"},
            help_texts={"response": "The auditee's answer: cause and correction.",
                        "verification": "Who checked the actions worked, when, and what they "
                                        "saw."},
            choices={"classification": CLASSIFICATIONS}),
    ]


@hookimpl
def register_admin_views():
    return [
        AdminView(TemplateAdmin, "Checklist templates", "audits_templates", VIEW,
                  model=ChecklistTemplate, category="Audits", order=50),
        AdminLink("Audit calendar", "audits.calendar", VIEW, category="Audits"),
    ]


@hookimpl
def register_blueprints():
    return [pages.blueprint]


@hookimpl
def register_dashboard_widgets():
    return [DashboardWidget("audits", "Audits", VIEW, "audits/widget.html", audits_context, 45)]


@hookimpl
def register_reminders():
    return [Reminder("audits.due", "Audits past their planned date", audits_sweep),
            Reminder("audits.responses", "Finding responses overdue", responses_sweep),
            Reminder("audits.verifications", "Finding verifications due", verifications_sweep)]


@hookimpl
def seed_reference_data():
    return seed()


@hookimpl
def record_page_actions(record, user):
    return pages.record_actions(record, user)


@hookimpl
def validate_change(record, changes):
    return change_problems(record, changes)


@hookimpl
def load_demo_data(users, passwords, study):
    return load(users, passwords, study)

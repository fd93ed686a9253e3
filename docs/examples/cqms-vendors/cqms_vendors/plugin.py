"""Wiring of the vendors plugin: declarations only (the behaviour lives in the other modules)."""

from pathlib import Path

from core import (
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    RoleTemplate,
    SettingSpec,
    hookimpl,
)
from cqms_vendors.demo import load
from cqms_vendors.models import Vendor
from cqms_vendors.reminders import remind_due
from cqms_vendors.workflow import WORKFLOW

VIEW, EDIT, APPROVE = "vendors.view", "vendors.edit", "vendors.approve"
COUNTRIES = (("DE", "Germany"), ("FR", "France"), ("GB", "United Kingdom"),
             ("US", "United States"), ("other", "Another country"))


@hookimpl
def register_models():
    return [Vendor]


@hookimpl
def register_migrations():
    return MigrationBranch("vendors", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_permissions():
    return [Permission(VIEW, "See Vendor records"),
            Permission(EDIT, "Create and edit Vendor records"),
            Permission(APPROVE, "Approve Vendor records (e-signature)")]


@hookimpl
def register_roles():
    return [RoleTemplate("qa_manager", None, (VIEW, EDIT, APPROVE)),
            RoleTemplate("author", None, (VIEW, EDIT)),
            RoleTemplate("approver", None, (VIEW, EDIT, APPROVE)),
            RoleTemplate("inspector", None, (VIEW,))]


@hookimpl
def register_settings():
    return [SettingSpec("vendors.remind_days", "int", 7,
                        "Days before its due date that a record's owner is reminded.",
                        minimum=0, maximum=365)]


@hookimpl
def register_workflows():
    return [WORKFLOW]


@hookimpl
def register_record_types():
    return [RecordType("vendors_vendor", "Vendor", Vendor, "VEND", "vendors_vendor",
                       controlled_fields=("description", "country", "due_date"), number_per_year=True,
                       view_permission=VIEW, manage_permission=EDIT, due_field="due_date",
                       admin_category="Vendors",
                       list_columns=("country", "due_date"),
                       labels={"description": "Services provided",
                               "due_date": "Re-qualification due"},
                       help_texts={
                           "description": "What it does for the trials (monitoring, central "
                                          "lab, IMP courier...).",
                           "due_date": "Its owner is reminded before this date.",
                       },
                       field_order=("title", "country", "description", "due_date"),
                       choices={"country": COUNTRIES})]


@hookimpl
def register_reminders():
    return [Reminder("vendors.due", "Vendor records due soon", remind_due)]


@hookimpl
def load_demo_data(users, passwords, study):
    return load(users)

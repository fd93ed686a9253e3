"""Wiring of the training plugin (declarations only)."""

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
    get_setting,
    hookimpl,
)
from plugins.training.access import assignment_read_filter
from plugins.training.admin import QuestionAdmin, RequirementAdmin
from plugins.training.api import blp
from plugins.training.dashboard import compliance_context, my_training_context
from plugins.training.demo import load
from plugins.training.matrix_admin import MatrixView
from plugins.training.matrix_export import MATRIX_EXPORT
from plugins.training.models import (
    ASSIGNMENT_SERVER_FIELDS,
    Curriculum,
    QuizAttempt,
    TrainingAssignment,
    TrainingQuestion,
    TrainingRequirement,
)
from plugins.training.qualification import missing_training
from plugins.training.reactions import (
    assignment_created,
    assignment_transitioned,
    curriculum_transitioned,
    role_changed,
    version_effective,
)
from plugins.training.reminders import due_soon_sweep, expiry_sweep, overdue_sweep, sync_sweep
from plugins.training.rules import change_problems, prepare_new_assignment
from plugins.training.views import blueprint
from plugins.training.workflows import WORKFLOWS


@hookimpl
def register_permissions():
    return [
        Permission("training.view", "See one's own training and assignments"),
        Permission("training.view_matrix", "See the training matrix and training records of others"),
        Permission("training.manage", "Manage requirements, curricula and assignments"),
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
        SettingSpec("training.due_soon_days", "int", 7,
                    "Days before an assignment's due date that its trainee is reminded.",
                    minimum=0, maximum=90),
        SettingSpec("training.expiry_notice_days", "int", 30,
                    "Days before a completion expires that retraining is assigned.",
                    minimum=0, maximum=365),
        SettingSpec("training.gate_signatures", "bool", False,
                    "Refuse signatures on records governed by an SOP the signer is not trained on."),
        SettingSpec("training.gate_grace_days", "int", 0,
                    "Days after a new SOP version takes effect before the signature gate "
                    "applies to it.", minimum=0, maximum=90),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("training", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_models():
    return [TrainingRequirement, TrainingQuestion, Curriculum, TrainingAssignment, QuizAttempt]


@hookimpl
def register_workflows():
    return WORKFLOWS


@hookimpl
def register_record_types():
    return [
        RecordType("training_curriculum", "Curriculum", Curriculum, "CUR", "training_curriculum",
                   retention=Retention(years=15),
                   controlled_fields=("role_key", "country", "requirement_codes", "description"),
                   view_permission="training.view", manage_permission="training.manage",
                   admin_category="Training", frozen_states=("active", "retired"),
                   frozen_hint="revise it (back to draft) to change it"),
        RecordType("training_assignment", "Training assignment", TrainingAssignment, "TRN",
                   "training_assignment", number_per_year=True, number_digits=5,
                   retention=Retention(years=15),
                   controlled_fields=("trainee_id", "requirement_id", "document_version_id",
                                      "version_label", "due_date", "carried_over_from_id"),
                   view_permission="training.view", manage_permission="training.manage",
                   reason_in_draft=True, read_filter=assignment_read_filter,
                   server_fields=ASSIGNMENT_SERVER_FIELDS, admin_category="Training",
                   fixed_fields=("trainee_id", "requirement_id", "owner_id"),
                   frozen_states=("completed", "waived", "cancelled", "superseded"),
                   frozen_hint="a closed assignment never changes",
                   prepare_new=prepare_new_assignment),
    ]


@hookimpl
def register_admin_views():
    return [
        AdminView(RequirementAdmin, "Requirements", "training_requirement", "training.view",
                  model=TrainingRequirement, category="Training", order=10),
        AdminView(QuestionAdmin, "Quiz questions", "training_question", "training.manage",
                  model=TrainingQuestion, category="Training", order=20),
        AdminView(MatrixView, "Training matrix", "training_matrix", "training.view_matrix",
                  category="Training", order=5),
        AdminLink("My training", "training.my_training", "training.view", category="Training"),
    ]


@hookimpl
def register_api_blueprints():
    return [blp]


@hookimpl
def register_blueprints():
    return [blueprint]


@hookimpl
def register_dashboard_widgets():
    return [DashboardWidget("training_my", "My training", "training.view",
                            "training/widget_my.html", my_training_context, 30),
            DashboardWidget("training_compliance", "Training compliance", "training.view_matrix",
                            "training/widget_compliance.html", compliance_context, 31)]


@hookimpl
def register_reminders():
    return [
        Reminder("training.sync", "Training the curricula require (catch-up)", sync_sweep),
        Reminder("training.due_soon", "Training due soon", due_soon_sweep),
        Reminder("training.overdue", "Overdue training", overdue_sweep),
        Reminder("training.expiring", "Expiring training (retraining assigned)", expiry_sweep),
    ]


@hookimpl
def register_jobs():
    return [MATRIX_EXPORT]


@hookimpl
def role_assignment_changed(assignment):
    role_changed(assignment)


@hookimpl
def record_transitioned(record, transition, user):
    if record.type == "training_curriculum":
        curriculum_transitioned(record, transition)
    elif record.type == "training_assignment":
        assignment_transitioned(record, user)


@hookimpl
def record_created(record):
    if record.type == "training_assignment":
        assignment_created(record)


# Offered by the documents plugin when it is loaded; training works without it (courses only).
@hookimpl(optionalhook=True)
def documents_version_effective(document, version):
    version_effective(document, version)


@hookimpl
def validate_transition(record, transition, user):
    if transition.signature is None:
        return []
    if not get_setting("training.gate_signatures"):
        return []
    return missing_training(record, user)


@hookimpl
def validate_change(record, changes):
    return change_problems(record, changes)


@hookimpl
def load_demo_data(users, passwords, study):
    return load(users, passwords, study)

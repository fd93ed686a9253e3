"""Wiring of the CAPA plugin (declarations only)."""

from pathlib import Path

from core import (
    AdminLink,
    AdminView,
    AuditEventKind,
    DashboardWidget,
    LinkKind,
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    Retention,
    RoleTemplate,
    SettingSpec,
    SignatureMeaning,
    hookimpl,
)
from plugins.capa import hookspecs, pages, queries, reactions, services, system_review
from plugins.capa.admin import CategoryAdmin, RootCauseAdmin
from plugins.capa.api import blp
from plugins.capa.board import BoardView
from plugins.capa.dashboard import capa_context, events_context
from plugins.capa.demo import load
from plugins.capa.models import (
    AnalysisLine,
    Capa,
    CapaAction,
    EventCategory,
    QualityEvent,
    RootCause,
)
from plugins.capa.reference import seed
from plugins.capa.reminders import actions_sweep, checks_sweep, notifications_sweep
from plugins.capa.rules import (
    IMPORTANCE,
    PRIORITIES,
    PROCESS_AREAS,
    RCA_METHODS,
    SEVERITIES,
    YES_NO,
    change_problems,
    prepare_new_capa,
    prepare_new_event,
)
from plugins.capa.workflows import WORKFLOWS

VIEW, CREATE, APPROVE, CLOSE, CONFIGURE = ("capa.view", "capa.create", "capa.approve",
                                           "capa.close", "capa.configure")
EVENT_CLOSED = ("closed", "cancelled")
CAPA_CLOSED = ("closed", "superseded", "cancelled")


@hookimpl
def register_permissions():
    return [
        Permission(VIEW, "See quality events and CAPAs"),
        Permission(CREATE, "Report quality events, investigate them and plan CAPAs"),
        Permission(APPROVE, "Approve CAPA plans and sign effectiveness checks"),
        Permission(CLOSE, "Close quality events and CAPAs"),
        Permission(CONFIGURE, "Keep the lists of event categories and root causes"),
    ]


@hookimpl
def register_roles():
    return [
        RoleTemplate("qa_manager", None, (VIEW, CREATE, APPROVE, CLOSE, CONFIGURE)),
        RoleTemplate("author", None, (VIEW, CREATE)),
        RoleTemplate("auditor", None, (VIEW, CREATE)),
        RoleTemplate("inspector", None, (VIEW,)),
        RoleTemplate("site_monitor", None, (VIEW, CREATE)),
    ]


@hookimpl
def register_settings():
    return [
        SettingSpec("capa.default_due_days", "int", 30,
                    "Days to complete a CAPA action, at most: the Actions page proposes this "
                    "or the CAPA's own due date, whichever comes first.",
                    minimum=1, maximum=365),
        SettingSpec("capa.event_due_days_minor", "int", 30,
                    "Days from its report to close a minor quality event (its due date).",
                    minimum=1, maximum=365),
        SettingSpec("capa.event_due_days_major", "int", 20,
                    "Days from its report to close a major quality event.",
                    minimum=1, maximum=365),
        SettingSpec("capa.event_due_days_critical", "int", 10,
                    "Days from its report to close a critical quality event.",
                    minimum=1, maximum=365),
        SettingSpec("capa.due_days_high", "int", 30,
                    "Days to carry out a high-priority CAPA (its due date).",
                    minimum=1, maximum=365),
        SettingSpec("capa.due_days_medium", "int", 60,
                    "Days to carry out a medium-priority CAPA.", minimum=1, maximum=365),
        SettingSpec("capa.due_days_low", "int", 90,
                    "Days to carry out a low-priority CAPA.", minimum=1, maximum=365),
        SettingSpec("capa.notification_days", "int", 7,
                    "Days from its report to notify the authorities / IRB-IEC of a serious "
                    "event.", minimum=1, maximum=90),
        SettingSpec("capa.similar_days", "int", 365,
                    "Days back to look for similar events when one is reported.",
                    minimum=1, maximum=3650),
        SettingSpec("capa.due_soon_days", "int", 7,
                    "Days before an action's due date that its owner is reminded.",
                    minimum=0, maximum=90),
        SettingSpec("capa.open_changes_at_closure", "str", "warn",
                    "Linked change requests still open when a CAPA closes: 'warn' (recorded "
                    "in its history) or 'block' (closure refused).", choices=("warn", "block")),
    ]


@hookimpl
def register_migrations():
    return MigrationBranch("capa", Path(__file__).parent / "migrations" / "versions")


@hookimpl
def register_models():
    return [EventCategory, RootCause, QualityEvent, AnalysisLine, Capa, CapaAction]


@hookimpl
def register_workflows():
    return WORKFLOWS


@hookimpl
def register_signature_meanings():
    return [SignatureMeaning("adequacy_confirmed", "Adequacy confirmed",
                             "The signer confirms the investigation and the actions taken are "
                             "adequate to close the event.")]


@hookimpl
def register_audit_event_kinds():
    return [AuditEventKind("capa.closed_with_open_changes", "Closed with changes still open",
                           "new: the numbers of the linked changes still open")]


@hookimpl
def register_link_kinds():
    return [
        LinkKind(queries.ADDRESSES, "addresses", "addressed by", source_types=("capa_capa",),
                 target_types=("capa_event", "audits_finding")),
        LinkKind(queries.FOLLOWS_UP, "follows up", "followed up by",
                 source_types=("capa_capa",), target_types=("capa_capa",), cardinality="one"),
        LinkKind(queries.RAISED_FROM, "raised from", "raised event",
                 source_types=("capa_event",)),
        LinkKind(queries.RESULTED_IN, "resulted in", "results from CAPA",
                 source_types=("capa_capa",)),
        LinkKind(queries.RISK, "re-evaluates risk", "to be re-evaluated after CAPA",
                 source_types=("capa_capa",)),
        LinkKind(queries.CHANGE, "requires change", "required by CAPA",
                 source_types=("capa_capa",)),
    ]


@hookimpl
def register_record_types():
    return [
        RecordType(
            "capa_event", "Quality event", QualityEvent, "QE", "capa_event", retention=Retention(years=15),
            phi_fields=("description",),
            controlled_fields=("category", "importance", "description", "occurred_on",
                               "process_area", "severity", "significant", "serious",
                               "containment", "similar_review", "rca_method",
                               "root_cause_key", "root_cause", "capa_needed",
                               "no_capa_rationale", "notification",
                               "no_notification_rationale", "due_date"),
            number_per_year=True, view_permission=VIEW, manage_permission=CREATE,
            admin_category="CAPA", due_field="due_date",
            escalate_to_role="qa_manager",
            server_fields=("reported_at", "contained_at", "similar_found"),
            frozen_states=EVENT_CLOSED,
            frozen_hint="a closed event changes only through a correction (Correct, with a reason)",
            # When it happened and how severe it is set the event's due date and how it is
            # handled: a second person checks both before it closes (docs/admin-guide.md).
            critical_fields=("occurred_on", "severity"),
            verify_before=("close", "close_after_containment", "approve_correction"),
            prepare_new=prepare_new_event, items=(AnalysisLine,),
            list_columns=("category", "severity", "significant", "serious"),
            create_fields=("category", "importance", "occurred_on", "description",
                           "process_area", "severity", "significant", "serious",
                           "containment"),
            field_order=("title", "category", "importance", "occurred_on", "description",
                         "process_area", "severity", "significant", "serious", "study",
                         "site", "containment", "similar_review", "rca_method",
                         "root_cause_key", "root_cause", "capa_needed", "no_capa_rationale",
                         "notification", "no_notification_rationale", "due_date"),
            labels={"importance": "Protocol deviation importance", "occurred_on": "Occurred on",
                    "reported_at": "Reported (UTC)", "process_area": "Process area",
                    "significant": "Significant", "serious": "Serious (notify authorities)",
                    "containment": "Immediate correction / containment",
                    "contained_at": "Contained (UTC)",
                    "similar_found": "Similar events found when reported",
                    "similar_review": "Similar events reviewed",
                    "rca_method": "Root-cause method", "root_cause_key": "Root cause category",
                    "root_cause": "Root cause", "capa_needed": "CAPA needed",
                    "no_capa_rationale": "Why no CAPA",
                    "notification": "Notification made",
                    "no_notification_rationale": "Why no notification is required"},
            help_texts={
                "title": "What happened, in a few words.",
                "importance": "Protocol deviations only: could it significantly affect "
                              "subjects' rights, safety or well-being, or data reliability?",
                "significant": "Significant non-compliance (ICH E6(R3) 3.12.2): needs an "
                               "investigation, a CAPA and a signed adequacy confirmation.",
                "serious": "Serious breach: the authorities / IRB-IEC are notified; QA gets a "
                           "task with the due date.",
                "containment": "What was done at once to contain it (may be done before any "
                               "investigation).",
                "similar_review": "'none', or the numbers of the similar events and what "
                                  "they show.",
                "notification": "To whom, when, and the reference of the notification.",
            },
            choices={"category": queries.category_choices, "importance": IMPORTANCE,
                     "process_area": PROCESS_AREAS, "severity": SEVERITIES,
                     "rca_method": RCA_METHODS, "root_cause_key": queries.root_cause_choices,
                     "capa_needed": YES_NO}),
        RecordType(
            "capa_capa", "CAPA", Capa, "CAPA", "capa_capa", retention=Retention(years=15),
            controlled_fields=("category", "problem_statement", "priority", "due_date",
                               "action_plan", "impact_assessment", "check_criteria",
                               "check_due_date", "check_result"),
            number_per_year=True, view_permission=VIEW, manage_permission=CREATE,
            admin_category="CAPA", due_field="due_date",
            due_by_state={"effectiveness_check": "check_due_date"},
            escalate_to_role="qa_manager",
            server_fields=("action_plan", "check_outcome", "previous_check_result"),
            frozen_states=CAPA_CLOSED, frozen_hint="a closed CAPA never changes",
            prepare_new=prepare_new_capa, items=(CapaAction,),
            list_columns=("category", "priority"),
            create_fields=("category", "problem_statement", "priority", "due_date"),
            field_order=("title", "category", "problem_statement", "priority", "study",
                         "site", "due_date", "impact_assessment", "check_criteria",
                         "check_due_date", "check_result"),
            labels={"problem_statement": "Problem statement", "action_plan": "Action plan",
                    "impact_assessment": "Impact on compliance and safety",
                    "check_criteria": "Effectiveness criteria",
                    "check_due_date": "Effectiveness check due",
                    "check_result": "Effectiveness result", "check_outcome": "Check outcome",
                    "previous_check_result": "Previous check (not effective)",
                    "due_date": "Actions due"},
            help_texts={
                "priority": "Proportionate to the problem's effects: sets the default due "
                            "date.",
                "impact_assessment": "Does the fix affect regulatory requirements, subject "
                                     "safety or data reliability? Verified with a signature "
                                     "before the plan is approved.",
                "check_criteria": "What will show the fix works (measure, sample, period).",
                "check_result": "What the check found (signed as effective or not).",
            },
            choices={"category": queries.category_choices, "priority": PRIORITIES}),
    ]


@hookimpl
def register_admin_views():
    return [
        AdminView(BoardView, "CAPA board", "capa_board", VIEW, category="CAPA",
                  order=5),
        AdminView(CategoryAdmin, "Event categories", "capa_categories", CONFIGURE,
                  model=EventCategory, category="CAPA", order=50),
        AdminView(RootCauseAdmin, "Root causes", "capa_root_causes", CONFIGURE,
                  model=RootCause, category="CAPA", order=51),
        AdminLink("My CAPA actions", "capa.my_actions", VIEW, category="CAPA"),
    ]


@hookimpl
def register_blueprints():
    return [pages.blueprint]


@hookimpl
def register_api_blueprints():
    return [blp]


@hookimpl
def register_dashboard_widgets():
    return [DashboardWidget("capa_open", "CAPAs", VIEW, "capa/widget_capas.html",
                            capa_context, 40),
            DashboardWidget("capa_events", "Quality events", VIEW, "capa/widget_events.html",
                            events_context, 41)]


@hookimpl
def register_reminders():
    return [
        Reminder("capa.actions", "CAPA actions due soon or overdue", actions_sweep),
        Reminder("capa.checks", "Effectiveness checks overdue", checks_sweep),
        Reminder("capa.notifications", "Serious events to notify", notifications_sweep),
    ]


@hookimpl
def register_hookspecs():
    return [hookspecs]


@hookimpl
def seed_reference_data():
    return seed()


@hookimpl
def capa_raise_for(record, category, user, title, description, significant, what):
    return services.raise_for(record, category, user, title=title, description=description,
                              significant=significant, what=what)


@hookimpl
def system_review_items(start, end):
    return system_review.review_sections(start, end)


@hookimpl
def record_page_actions(record, user):
    return pages.record_actions(record, user)


@hookimpl
def record_created(record):
    if record.type == "capa_event":
        reactions.event_created(record)


@hookimpl
def record_transitioned(record, transition, user):
    if record.type == "capa_event":
        reactions.event_transitioned(record, transition, user)
    elif record.type == "capa_capa":
        reactions.capa_transitioned(record, transition, user)


@hookimpl
def validate_change(record, changes):
    return change_problems(record, changes)


@hookimpl
def load_demo_data(users, passwords, study):
    return load(users, passwords, study)


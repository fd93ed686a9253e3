"""What the core's declarations cannot say about events and CAPAs, on every path (admin, API,
services): a new event gets its report time, due date and similar events (``prepare_new``); a
CAPA its due date from its priority; values come from the lists offered (``validate_change``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import User, get_setting, utcnow
from plugins.capa import queries
from plugins.capa.models import ACTION_KINDS, AnalysisLine, Capa, CapaAction, EventCategory, QualityEvent

PROCESS_AREAS = (("", "(not stated)"), ("informed_consent", "Informed consent"),
                 ("eligibility", "Eligibility"), ("ip_handling", "Investigational product"),
                 ("safety_reporting", "Safety reporting"), ("data_management", "Data management"),
                 ("monitoring", "Monitoring"), ("computerised_systems", "Computerised systems"),
                 ("document_control", "Document control"), ("training", "Training"),
                 ("vendor_management", "Vendor management"), ("other", "Other"))
SEVERITIES = (("minor", "Minor"), ("major", "Major"), ("critical", "Critical"))
IMPORTANCE = (("", "(not a protocol deviation)"), ("important", "Important"),
              ("not_important", "Not important"))
RCA_METHODS = (("", "(not yet chosen)"), ("five_whys", "5 whys"),
               ("fishbone", "Fishbone (Ishikawa)"), ("other", "Other"))
YES_NO = (("", "(not yet decided)"), ("yes", "Yes"), ("no", "No"))
PRIORITIES = (("high", "High"), ("medium", "Medium"), ("low", "Low"))
PROTOCOL_DEVIATION = "protocol_deviation"


def prepare_new_event(event: QualityEvent) -> None:
    now = utcnow()
    event.reported_at = now
    if event.due_date is None:
        severity = event.severity if event.severity in dict(SEVERITIES) else "minor"
        event.due_date = now.date() + timedelta(
            days=get_setting(f"capa.event_due_days_{severity}"))
    if event.category:
        found = queries.similar_events(event, now)
        event.similar_found = ", ".join(e.number for e in found) or "none found"


def prepare_new_capa(capa: Capa) -> None:
    if capa.due_date is None:
        days = get_setting(f"capa.due_days_{capa.priority or 'medium'}") \
            if capa.priority in dict(PRIORITIES) else get_setting("capa.due_days_medium")
        capa.due_date = utcnow().date() + timedelta(days=days)


def _choice(value: Any, pairs: tuple[tuple[str, str], ...], field: str) -> list[tuple[str, str]]:
    if value in dict(pairs):
        return []
    return [(field, "Choose one of: " + ", ".join(label for key, label in pairs if key) + ".")]


def _category(value: Any, field: str = "category") -> list[tuple[str, str]]:
    found = queries.category(value or "")
    if found is not None and found.active:
        return []
    offered = ", ".join(key for key, _ in queries.category_choices())
    return [(field, f"Choose an active event category ({offered}).")]


def _event_problems(event: QualityEvent, changes: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if "category" in changes:
        problems += _category(event.category)
    for field, pairs in (("process_area", PROCESS_AREAS), ("severity", SEVERITIES),
                         ("importance", IMPORTANCE), ("rca_method", RCA_METHODS),
                         ("capa_needed", YES_NO)):
        if field in changes:
            problems += _choice(getattr(event, field), pairs, field)
    if event.category == PROTOCOL_DEVIATION and not event.importance:
        problems.append(("importance", "Say whether the protocol deviation is important."))
    elif event.category != PROTOCOL_DEVIATION and event.importance:
        problems.append(("importance", "Only a protocol deviation is important or not."))
    if event.occurred_on is not None and event.occurred_on > utcnow().date():
        problems.append(("occurred_on", "An event cannot occur in the future."))
    if "root_cause_key" in changes and event.root_cause_key and \
            event.root_cause_key not in dict(queries.root_cause_choices()):
        problems.append(("root_cause_key", "Choose a root cause from the list."))
    return problems


def _capa_problems(capa: Capa, changes: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if "category" in changes:
        problems += _category(capa.category)
    if "priority" in changes:
        problems += _choice(capa.priority, PRIORITIES, "priority")
    if "check_due_date" in changes and capa.check_due_date is not None and \
            capa.check_due_date < utcnow().date():
        problems.append(("check_due_date", "The effectiveness check cannot be due in the "
                                           "past."))
    return problems


def _action_problems(action: CapaAction, changes: dict[str, Any]) -> list[tuple[str, str]]:
    problems = _choice(action.kind, ACTION_KINDS, "kind") if "kind" in changes else []
    if "owner_id" in changes:
        owner = User.by_id(action.owner_id)
        if owner is None or not owner.active or owner.is_service:
            problems.append(("owner_id", "Name an active person as the action's owner."))
    if not (action.description or "").strip():
        problems.append(("description", "Describe the action."))
    if action.due_date is None:
        problems.append(("due_date", "Give the action a due date."))
    if action.completed_at is not None and not (action.evidence or "").strip():
        problems.append(("evidence", "Say what was done (the evidence of completion)."))
    return problems


def change_problems(row: Any, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``validate_change`` answer of the CAPA plugin."""
    if isinstance(row, QualityEvent):
        return _event_problems(row, changes)
    if isinstance(row, Capa):
        return _capa_problems(row, changes)
    if isinstance(row, CapaAction):
        return _action_problems(row, changes)
    if isinstance(row, AnalysisLine) and not (row.finding or "").strip():
        return [("finding", "Write the finding.")]
    if isinstance(row, EventCategory) and not (row.label or "").strip():
        return [("label", "Give the category a name.")]
    return []

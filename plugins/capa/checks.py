"""Guards of the event and CAPA workflows: ``(record, user) -> reasons to refuse``, in words a
QA manager reads on the record page ("Not yet: ...")."""

from __future__ import annotations

from typing import Any

from core import get_setting
from plugins.capa import queries
from plugins.capa.models import Capa, QualityEvent

# -- events -------------------------------------------------------------------------------------


def containment_given(event: QualityEvent, _user: Any) -> list[str]:
    return [] if event.containment.strip() else [
        "describe the immediate correction or containment (field Containment)"]


def similar_reviewed(event: QualityEvent, _user: Any) -> list[str]:
    return [] if event.similar_review.strip() else [
        "record the similar events reviewed ('none', or their numbers)"]


def root_cause_given(event: QualityEvent, _user: Any) -> list[str]:
    reasons = []
    if not event.rca_method:
        reasons.append("choose the root-cause method")
    if not event.root_cause_key or not event.root_cause.strip():
        reasons.append("give the root cause (category and description)")
    return reasons


def capa_decision_given(event: QualityEvent, _user: Any) -> list[str]:
    if event.capa_needed == "yes":
        return []
    if event.capa_needed == "no":
        if event.significant:
            return ["a significant event needs a CAPA (ICH E6(R3) 3.12.2)"]
        return [] if event.no_capa_rationale.strip() else [
            "say why no CAPA is needed (field Why no CAPA)"]
    return ["decide whether a CAPA is needed"]


def capas_raised(event: QualityEvent, _user: Any) -> list[str]:
    if event.capa_needed != "yes" and not event.significant:
        return []
    return [] if queries.capas_for(event) else [
        f"raise a CAPA addressing {event.number} first"]


def not_significant(event: QualityEvent, _user: Any) -> list[str]:
    return ["a significant event closes only after an investigation and a CAPA"] \
        if event.significant else []


def notification_settled(event: QualityEvent, _user: Any) -> list[str]:
    if not event.serious:
        return []
    if event.notification.strip() or event.no_notification_rationale.strip():
        return []
    return ["a serious event needs the notification made (to whom, when, reference) or why "
            "none is required"]


# -- CAPAs --------------------------------------------------------------------------------------


def plan_complete(capa: Capa, _user: Any) -> list[str]:
    reasons = []
    if not capa.problem_statement.strip():
        reasons.append("state the problem")
    if not queries.actions_of(capa):
        reasons.append("plan at least one action")
    return reasons


def impact_given(capa: Capa, _user: Any) -> list[str]:
    return [] if capa.impact_assessment.strip() else [
        "assess the impact on compliance and safety (field Impact assessment)"]


def actions_completed(capa: Capa, _user: Any) -> list[str]:
    left = [a for a in queries.actions_of(capa) if a.completed_at is None]
    if not left:
        return []
    return [f"{len(left)} action(s) not completed yet"]


def check_planned(capa: Capa, _user: Any) -> list[str]:
    reasons = []
    if not capa.check_criteria.strip():
        reasons.append("say what proves the fix effective (field Effectiveness criteria)")
    if capa.check_due_date is None:
        reasons.append("set the effectiveness check due date")
    return reasons


def check_not_required(capa: Capa, _user: Any) -> list[str]:
    found = queries.category(capa.category)
    if found is None or found.check_required:
        label = found.label if found is not None else capa.category
        return [f"a CAPA of category '{label}' closes only after an effectiveness check"]
    return []


def check_result_given(capa: Capa, _user: Any) -> list[str]:
    if not capa.check_result.strip():
        return ["record what the check found (field Effectiveness result)"]
    if capa.previous_check_result.strip() == capa.check_result.strip():
        return ["record what this check found: the Effectiveness result is still the previous "
                "check's (found not effective)"]
    return []


def not_an_action_owner(capa: Capa, user: Any) -> list[str]:
    """The check is signed by someone who owned none of the actions it judges."""
    if any(a.owner_id == user.id for a in queries.actions_of(capa)):
        return [f"{user.printed_name} owns an action of {capa.number}: someone who owned none "
                "signs the effectiveness check"]
    return []


def changes_resolved(capa: Capa, _user: Any) -> list[str]:
    if get_setting("capa.open_changes_at_closure") != "block":
        return []
    open_changes = queries.unresolved(capa, queries.CHANGE)
    if not open_changes:
        return []
    return ["linked changes still open: " + ", ".join(r.number for r in open_changes)]

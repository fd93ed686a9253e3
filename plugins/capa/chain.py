"""The whole chain of a quality event or CAPA, as an inspector reads it (ISO 9001 10.2.2, ISO
13485 8.5.2): event -> containment -> investigation -> CAPA plan -> actions -> effectiveness
check -> closure, each step with what was recorded and who signed it when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import Record, may_read, signatures_of
from plugins.capa import queries
from plugins.capa.models import Capa, QualityEvent
from plugins.capa.rules import IMPORTANCE, PRIORITIES, RCA_METHODS, SEVERITIES


@dataclass
class Step:
    title: str
    record: Record
    lines: list[tuple[str, str]] = field(default_factory=list)
    signatures: list[Any] = field(default_factory=list)
    done: bool = True


def key_words(key: str) -> str:
    """A state or outcome key as words: ``effectiveness_check`` -> "Effectiveness check"."""
    return key.replace("_", " ").capitalize()


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _signed(record: Record, *transitions: str) -> list[Any]:
    return [s for s in signatures_of(record) if s.transition in transitions]


def event_steps(event: QualityEvent) -> list[Step]:
    root = dict(queries.root_cause_choices()).get(event.root_cause_key, event.root_cause_key)
    flags = ", ".join(w for w, on in (("significant", event.significant),
                                      ("serious", event.serious)) if on) or "neither"
    steps = [
        Step(f"Event {event.number}: reported", event, [
            ("What happened", event.title), ("Category", queries.category_label(event.category)),
            ("Importance", dict(IMPORTANCE).get(event.importance, "")),
            ("Severity", dict(SEVERITIES).get(event.severity, event.severity)),
            ("Significant / serious", flags), ("Occurred on", str(event.occurred_on or "-")),
            ("Reported", _when(event.reported_at)), ("Description", event.description)]),
        Step("Containment", event, [("Correction / containment", event.containment or "-"),
                                    ("Done", _when(event.contained_at))],
             done=event.contained_at is not None),
        Step("Investigation", event, [
            ("Similar events found", event.similar_found or "-"),
            ("Similar events reviewed", event.similar_review or "-"),
            ("Method", dict(RCA_METHODS).get(event.rca_method, "") or "-"),
            *((line.part, line.finding) for line in queries.analysis_of(event)),
            ("Root cause", f"{root}: {event.root_cause}" if event.root_cause else "-"),
            ("CAPA needed", {"yes": "Yes", "no": f"No: {event.no_capa_rationale}"}.get(
                event.capa_needed, "not yet decided"))],
             _signed(event, "complete_investigation"),
             done=event.state in ("investigated", "closed")),
    ]
    if event.serious:
        steps.append(Step("Notification of the authorities / IRB-IEC", event, [
            ("Notification", event.notification or "-"),
            ("Why none is required", event.no_notification_rationale or "-")],
            done=bool(event.notification or event.no_notification_rationale)))
    steps.append(Step("Event closure", event, [("State", key_words(event.state))],
                      _signed(event, "close", "close_after_containment", "approve_correction"),
                      done=event.state in ("closed", "cancelled")))
    return steps


def capa_steps(capa: Capa) -> list[Step]:
    actions = queries.actions_of(capa)
    return [
        Step(f"{capa.number}: plan", capa, [
            ("Problem statement", capa.problem_statement),
            ("Priority", dict(PRIORITIES).get(capa.priority, capa.priority)),
            ("Actions due", str(capa.due_date or "-")), ("Action plan", capa.action_plan or "-"),
            ("Impact on compliance and safety", capa.impact_assessment or "-")],
             _signed(capa, "verify_impact", "approve_plan"),
             done=capa.state not in ("planning", "impact_verified")),
        Step("Actions", capa, [
            (f"{n}. {a.kind_words}", f"{a.description}\nOwner {a.owner_name}, due {a.due_date}; "
             + (f"done {a.completed_at:%Y-%m-%d}: {a.evidence}" if a.completed_at else "open"))
            for n, a in enumerate(actions, 1)],
             done=bool(actions) and all(a.completed_at for a in actions)),
        Step("Effectiveness check", capa, [
            ("Criteria", capa.check_criteria or "-"), ("Due", str(capa.check_due_date or "-")),
            ("Result", capa.check_result or "-"),
            ("Outcome", key_words(capa.check_outcome) or "-")],
             _signed(capa, "confirm_effective", "reopen", "replace"),
             done=capa.check_outcome == "effective"),
        Step("CAPA closure", capa, [("State", key_words(capa.state))],
             _signed(capa, "close", "close_without_check"),
             done=capa.state in ("closed", "superseded", "cancelled")),
    ]


def chain_of(record: Record, user: Any) -> list[Step]:
    """The steps of ``record``'s chain that ``user`` may read: an event and its CAPAs, or a
    CAPA with the events it addresses."""
    if isinstance(record, QualityEvent):
        events, capas = [record], [c for c in queries.capas_for(record) if may_read(c, user)]
    else:
        capas = [record]
        events = [e for e in queries.addressed_by(record)
                  if isinstance(e, QualityEvent) and may_read(e, user)]
    steps: list[Step] = []
    for event in events:
        steps += event_steps(event)
    for capa in capas:
        steps += capa_steps(capa)
    return steps

"""What people do on events and CAPAs besides editing fields and taking transitions: lines of
the analysis, planned actions and their completion, and raising an event or a CAPA from another
plugin's record (hook ``capa_raise_for``). Each call flushes; the caller commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from core import (
    ConflictError,
    PermissionDenied,
    Record,
    User,
    ValidationError,
    audit_reason,
    create_record,
    db,
    link_records,
    may_act_in,
    may_read,
    server_write,
    utcnow,
)
from plugins.capa import queries
from plugins.capa.models import ACTION_KINDS, AnalysisLine, Capa, CapaAction, QualityEvent
from plugins.capa.reactions import action_completed

CREATE = "capa.create"
MAX_TEXT = 4000


def _may_work_on(record: Record, user: User) -> None:
    if not may_act_in(user, CREATE, record.study, record.site):
        raise PermissionDenied(f"{user.username} may not work on {record.number}")


def _text(value: Any, field: str, what: str) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError({field: f"{what} is required."})
    if len(text) > MAX_TEXT:
        raise ValidationError({field: f"At most {MAX_TEXT} characters."})
    return text


def add_analysis_line(event: QualityEvent, user: User, part: str, finding: str) -> AnalysisLine:
    """A why of the 5 whys, a fishbone branch...: while the event is being investigated."""
    _may_work_on(event, user)
    if event.state != "investigating":
        raise ConflictError(f"{event.number} is {event.state.replace('_', ' ')}: analysis lines "
                            "are added while it is being investigated")
    part = _text(part, "part", "The part (such as 'Why 1' or 'Methods')")[:60]
    line = AnalysisLine(record_id=event.id, part=part,
                        finding=_text(finding, "finding", "The finding"), created_by_id=user.id)
    with audit_reason(f"Analysis of {event.number}: {part}"):
        db.session.add(line)
        db.session.flush()
    return line


def may_own_actions(person: User, capa: Capa) -> bool:
    """An action's owner is an active person who may work on the CAPA where it is (they
    record the completion on it)."""
    return person.active and not person.is_service and may_act_in(
        person, CREATE, capa.study, capa.site)


def plan_text(actions: list[CapaAction]) -> str:
    """The plan in words, one action a line: what the plan approval signs."""
    return "\n".join(f"{n}. {a.kind_words}: {a.description} (owner {a.owner_name}, due "
                     f"{a.due_date.isoformat()})" for n, a in enumerate(actions, 1))


def refresh_plan(capa: Capa) -> None:
    actions = queries.actions_of(capa)
    with server_write("capa_capa"):
        capa.action_plan = plan_text(actions)
        db.session.flush()


def add_action(capa: Capa, user: User, *, kind: str, description: str, owner: User | None,
               due_date: date | None) -> CapaAction:
    """Plan an action (while the CAPA is in planning: the plan approval signs them)."""
    _may_work_on(capa, user)
    if capa.state != "planning":
        raise ConflictError(f"{capa.number} is past planning: actions are planned before the "
                            "plan is approved (revise the plan to add one)")
    problems = {}
    if kind not in dict(ACTION_KINDS):
        problems["kind"] = "Choose correction, corrective action or preventive action."
    if owner is None:
        problems["owner_id"] = "Name the action's owner."
    elif not may_own_actions(owner, capa):
        problems["owner_id"] = (f"{owner.printed_name} may not work on {capa.number}: choose "
                                "someone who may.")
    if due_date is None:
        problems["due_date"] = "Give the action a due date."
    elif due_date < utcnow().date():
        problems["due_date"] = "The due date is in the past."
    if problems:
        raise ValidationError(problems)
    action = CapaAction(record_id=capa.id, kind=kind, owner_id=owner.id, due_date=due_date,
                        description=_text(description, "description", "The action"),
                        created_by_id=user.id)
    with audit_reason(f"Action planned on {capa.number}"):
        db.session.add(action)
        db.session.flush()
        refresh_plan(capa)
    return action


def complete_action(action: CapaAction, user: User, *, evidence: str,
                    result: Record | None = None) -> CapaAction:
    """The action's owner records what was done (and the record it produced, such as the new
    SOP version), while the CAPA is being implemented."""
    capa = db.session.get(Capa, action.record_id)
    if action.owner_id != user.id:
        raise PermissionDenied(f"only {action.owner_name} completes this action")
    if capa.state != "implementation":
        raise ConflictError(f"{capa.number} is not being implemented: actions are completed "
                            "after the plan is approved")
    if action.completed_at is not None:
        raise ConflictError(f"This action of {capa.number} is completed already")
    if result is not None and not may_read(result, user):
        raise ValidationError({"result": "No such record that you may see."})
    with audit_reason(f"Action completed on {capa.number}"):
        action.evidence = _text(evidence, "evidence", "What was done")
        action.completed_at, action.completed_by_id = utcnow(), user.id
        action.result_record_id = result.id if result is not None else None
        db.session.flush()
        if result is not None and result not in queries.linked_results(capa):
            link_records(capa, result, queries.RESULTED_IN, user,
                         reason=f"Produced by an action of {capa.number}")
        action_completed(capa, user)
    return action


def raise_for(record: Record, category: str, user: User, *, title: str, description: str,
              significant: bool = False, what: str = "event") -> Record:
    """An event (``what="event"``, linked *raised from* ``record``) or a CAPA (``"capa"``,
    linked as *addresses* ``record``) for another plugin's record, in its study and site."""
    if what not in ("event", "capa"):
        raise ValidationError({"what": "Raise an 'event' or a 'capa'."})
    scope = {"study_id": record.study_id, "site_id": record.site_id}
    reason = f"Raised from {record.number}"
    if what == "event":
        raised = create_record("capa_event", user, reason=reason, title=title,
                               category=category, description=description,
                               significant=significant, occurred_on=utcnow().date(), **scope)
        link_records(raised, record, queries.RAISED_FROM, user, reason=reason)
    else:
        raised = create_record("capa_capa", user, reason=reason, title=title,
                               category=category, problem_statement=description, **scope)
        link_records(raised, record, queries.ADDRESSES, user, reason=reason)
    return raised

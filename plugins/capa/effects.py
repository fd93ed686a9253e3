"""Effects of the event and CAPA transitions, inside the transition's transaction (an exception
rolls everything back). Tasks and notifications follow after commit (reactions.py)."""

from __future__ import annotations

from typing import Any

from core import create_record, current_reason, get_setting, link_records, record_event, utcnow
from plugins.capa import queries
from plugins.capa.models import Capa, QualityEvent


def contained(event: QualityEvent, _user: Any) -> None:
    event.contained_at = utcnow()


def found_effective(capa: Capa, _user: Any) -> None:
    capa.check_outcome = "effective"


def found_not_effective(capa: Capa, _user: Any) -> None:
    """The result stays as signed (and in the history); it is kept as the previous check's,
    so that the next check records its own."""
    capa.check_outcome = "not_effective"
    capa.previous_check_result = capa.check_result


def check_started(capa: Capa, _user: Any) -> None:
    """A new check has no outcome yet (an earlier one may have been not effective)."""
    capa.check_outcome = ""


def follow_up_raised(capa: Capa, user: Any) -> None:
    """A new CAPA replaces one found not effective: same problem, category and scope, linked
    to it and to everything it addressed."""
    follow_up = create_record(
        "capa_capa", user, reason=f"Follow-up of {capa.number} (not effective)",
        title=f"Follow-up of {capa.number}: {capa.title}"[:300], category=capa.category,
        problem_statement=(f"{capa.problem_statement}\n\n{capa.number} was found not "
                           f"effective: {current_reason()}"),
        priority=capa.priority, study_id=capa.study_id, site_id=capa.site_id,
        owner_id=capa.owner_id)
    link_records(follow_up, capa, queries.FOLLOWS_UP, user,
                 reason=f"{capa.number} was not effective")
    for addressed in queries.addressed_by(capa):
        link_records(follow_up, addressed, queries.ADDRESSES, user,
                     reason=f"Taken over from {capa.number}")


def capa_closed(capa: Capa, _user: Any) -> None:
    """Changes still open at closure are recorded (the ``warn`` setting) in the history."""
    if get_setting("capa.open_changes_at_closure") != "warn":
        return
    open_changes = queries.unresolved(capa, queries.CHANGE)
    if open_changes:
        record_event("capa.closed_with_open_changes", capa.audit_entity_type, capa.id,
                     new=", ".join(r.number for r in open_changes),
                     entity_version=capa.version)

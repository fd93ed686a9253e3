"""Demo quality events and a CAPA for ``cqms demo`` (hook ``load_demo_data``): a significant
protocol deviation at site 101, contained, investigated (5 whys) and addressed by a CAPA now in
its effectiveness check; and a system incident, contained and closed (A11-14). Idempotent: an
event or CAPA of the same title is left alone. Signed steps need the demo users' passwords;
without them the records stop before their first signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core import (
    CQMSError,
    SignatureRequest,
    ValidationError,
    attest,
    create_record,
    critical_field_checks,
    db,
    link_records,
    transition,
    update_record,
    utcnow,
    verify_field,
)
from plugins.capa import queries, services
from plugins.capa.models import Capa, QualityEvent

REASON = "Demo data loaded with cqms demo"
DEVIATION = "Consent taken on superseded ICF version 3"
INCIDENT = "eTMF unavailable for two hours"
CAPA_TITLE = "Stop superseded consent forms being used at sites"


def _signature(users: dict[str, Any], passwords: dict[str, str | None],
               username: str) -> SignatureRequest | None:
    user, password = users.get(username), passwords.get(username)
    if user is None or not password:
        return None
    try:
        attest(user, password)
        db.session.commit()
    except ValidationError:  # attested before
        db.session.rollback()
    return SignatureRequest(password=password, comment=REASON)


def _exists(title: str) -> bool:
    return any(db.session.scalar(select(model.id).where(model.title == title)) is not None
               for model in (QualityEvent, Capa))


def _step(record: Any, name: str, user: Any, **kwargs: Any) -> None:
    transition(record, name, user, **kwargs)
    db.session.commit()


def _edit(record: Any, user: Any, **values: Any) -> None:
    update_record(record, user, expected_version=record.version, reason=REASON, **values)
    db.session.commit()


def _deviation(users: dict[str, Any], sign: Any, study: Any) -> str:
    monitor, author, qa = users["site_monitor"], users["author"], users["qa"]
    site = next((s for s in study.sites if s.code == "101"), None)
    today = utcnow().date()
    event = create_record(
        "capa_event", monitor, reason=REASON, title=DEVIATION, category="protocol_deviation",
        importance="important", significant=True, severity="major",
        process_area="informed_consent", occurred_on=today - timedelta(days=12),
        study_id=study.id, site_id=site.id if site else None,
        description="Two subjects signed ICF version 3 after version 4 (new safety "
                    "information) was approved by the IEC.")
    db.session.commit()
    _edit(event, monitor, containment="Both subjects re-consented on version 4 the same "
                                      "day; version 3 copies removed from the site file.")
    _step(event, "contain", monitor)
    _step(event, "investigate", monitor)
    for part, finding in (
            ("Why 1", "The coordinator took the ICF from a printed stock."),
            ("Why 2", "The printed stock was not replaced when version 4 arrived."),
            ("Why 3", "No step of the site's ICF procedure withdraws superseded copies."),
    ):
        services.add_analysis_line(event, monitor, part, finding)
    db.session.commit()
    _edit(event, monitor, similar_review="none: no other consent version error in 12 months",
          rca_method="five_whys", root_cause_key="procedure_unclear",
          root_cause="The site ICF procedure has no step to withdraw superseded versions.",
          capa_needed="yes")
    signed = sign("site_monitor")
    if signed is None:
        return f"{event.number} investigating (no password: not signed)"
    _step(event, "complete_investigation", monitor, signature=signed)
    capa = create_record(
        "capa_capa", author, reason=REASON, title=CAPA_TITLE, category="protocol_deviation",
        priority="high", study_id=study.id, site_id=site.id if site else None,
        problem_statement="Superseded consent forms stay in use at sites after a new version "
                          "is approved.")
    link_records(capa, event, queries.ADDRESSES, author, reason=REASON)
    db.session.commit()
    for kind, text, owner, days in (
            ("correction", "Withdraw every printed ICF version 3 at site 101.", monitor, 7),
            ("corrective", "Add a withdrawal step to the site ICF procedure.", author, 21),
            ("preventive", "Monitors check the ICF version in use at each visit.", author, 30)):
        services.add_action(capa, author, kind=kind, description=text, owner=owner,
                            due_date=today + timedelta(days=days))
    db.session.commit()
    _edit(capa, author, impact_assessment="No adverse effect on regulatory requirements or "
                                          "subject safety: the change adds a check.")
    _step(capa, "verify_impact", author, signature=sign("author"))
    approval = sign("qa")
    if approval is None:
        return f"{event.number} investigated, {capa.number} impact verified"
    _step(capa, "approve_plan", qa, signature=approval)
    for action in queries.actions_of(capa):
        services.complete_action(action, action.owner, evidence="Done: see the site file note "
                                                                 "of the visit.")
    db.session.commit()
    _edit(capa, author, check_criteria="No consent on a superseded ICF version at any site "
                                       "over the next 3 monitoring visits.",
          check_due_date=today + timedelta(days=90))
    _step(capa, "start_check", author)
    return f"{event.number} investigated, {capa.number} in its effectiveness check"


def _incident(users: dict[str, Any], sign: Any, study: Any) -> str:
    auditor, qa = users["auditor"], users["qa"]
    event = create_record(
        "capa_event", auditor, reason=REASON, title=INCIDENT, category="system_incident",
        severity="minor", process_area="computerised_systems",
        occurred_on=utcnow().date() - timedelta(days=20),
        description="The eTMF returned errors from 09:10 to 11:05 UTC after a certificate "
                    "expired; no data lost.")
    db.session.commit()
    _edit(event, auditor, containment="Certificate renewed; vendor confirmed no data loss; "
                                      "audit trail of the period reviewed.",
          similar_review="none in 12 months")
    _step(event, "contain", auditor)
    approval = sign("qa")
    if approval is None:
        return f"{event.number} contained"
    for check in critical_field_checks(event):  # QA checks when and how severe (2nd person)
        if check.needs_verification:
            verify_field(event, check.field, qa, expected_version=event.version)
    db.session.commit()
    _step(event, "close_after_containment", qa, signature=approval,
          reason="Contained; certificate expiry now monitored by IT (no CAPA needed).")
    return f"{event.number} closed"


def load(users: dict[str, Any], passwords: dict[str, str | None], study: Any) -> str:
    def sign(username: str) -> SignatureRequest | None:
        return _signature(users, passwords, username)

    done = []
    try:
        if not _exists(DEVIATION):
            done.append(_deviation(users, sign, study))
        if not _exists(INCIDENT):
            done.append(_incident(users, sign, study))
    except CQMSError as exc:
        db.session.rollback()
        return f"capa: demo stopped: {exc}"
    return "capa: " + ("; ".join(done) if done else "demo events present")

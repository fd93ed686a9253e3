"""Findings with the CAPA plugin enabled (ISO-14): a critical or major finding raises a CAPA that
addresses it, a minor one or an observation a quality event raised from it (hook
``capa_raise_for``); the finding is verified only once that CAPA or event is closed or
cancelled. Also from the finding's record page."""

from __future__ import annotations

import pytest
from audits_helpers import (
    closed,
    edit,
    new_audit,
    raise_one,
    refused,
    sig,
    started,
    step,
    studies,
    switch,
    team,
    text,
)

from core import ConflictError, PermissionDenied, WorkflowError, db, linked
from core.testing import csrf_token
from plugins.audits import queries, services
from plugins.capa import queries as capa_queries
from plugins.capa.models import Capa, QualityEvent

pytestmark = pytest.mark.plugins("audits", "capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def answered(finding, user):  # type: ignore[no-untyped-def]
    """The response recorded without proposed actions: what was raised stands for them."""
    edit(finding, user, response="Old copies withdrawn; see what was raised.")
    return step(finding, "respond", user)


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-14")
def test_a_major_finding_raises_a_capa_that_must_close_before_the_finding(people):
    aud, quinn = people["aud"], people["quinn"]
    berlin, _lyon = studies()
    audit = started(new_audit(aud, study_id=berlin.study_id, site_id=berlin.id), people)
    found = raise_one(audit, aud, classification="major")
    assert services.capa_available()
    capa = services.raise_capa(found, aud)
    db.session.commit()
    assert isinstance(capa, Capa) and capa.state == "planning"
    assert (capa.category, capa.study_id, capa.site_id) == ("audit_finding", berlin.study_id,
                                                            berlin.id)
    assert capa.title == f"{found.number}: Old ICF used"
    assert capa.problem_statement == "Two subjects on ICF v3."
    assert linked(capa, capa_queries.ADDRESSES, direction="out") == [found]
    assert capa_queries.capas_for(found) == [capa]
    assert queries.linked_into(found) == [capa]
    answered(found, aud)  # no proposed actions needed: the CAPA stands for them
    with pytest.raises(ConflictError, match="response already"):
        services.raise_capa(found, aud)
    db.session.rollback()
    edit(found, aud, verification="The CAPA's actions checked.")
    refused(found, "verify_and_close", aud, WorkflowError, f"still open: {capa.number}",
            signature=sig())
    step(capa, "cancel", quinn, reason="Simulates the CAPA closing")
    step(found, "verify_and_close", aud, signature=sig())
    assert found.state == "closed"


@pytest.mark.req("ISO-14")
def test_an_observation_raises_a_quality_event_raised_from_it(people):
    aud, quinn = people["aud"], people["quinn"]
    audit = started(new_audit(aud), people)
    found = raise_one(audit, aud, classification="observation", title="Late log entries",
                      evidence="")
    event = services.raise_capa(found, aud)
    db.session.commit()
    assert isinstance(event, QualityEvent) and event.state == "reported"
    assert (event.category, event.significant, event.description) == (
        "audit_finding", False, "Late log entries")  # no evidence: the title describes it
    assert linked(event, capa_queries.RAISED_FROM, direction="out") == [found]
    assert queries.linked_into(found) == [event]
    answered(found, aud)
    edit(found, aud, verification="Checked.")
    refused(found, "verify_and_close", aud, WorkflowError, event.number, signature=sig())
    step(event, "cancel", quinn, reason="Simulates the event closing")
    closed(found, aud)
    assert found.state == "closed"


def test_a_critical_finding_raises_a_capa_and_a_minor_one_an_event(people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    critical = raise_one(audit, aud, classification="critical", title="Unreported SAE")
    minor = raise_one(audit, aud, classification="minor", title="Missing signature")
    assert isinstance(services.raise_capa(critical, aud), Capa)
    assert isinstance(services.raise_capa(minor, aud), QualityEvent)
    db.session.commit()
    with pytest.raises(PermissionDenied):  # an inspector raises nothing
        services.raise_capa(minor, people["ivan"])
    db.session.rollback()
    assert len(queries.linked_into(minor)) == 1


def test_the_finding_page_offers_raise_a_capa_while_it_is_open(client, login, people):
    aud = people["aud"]
    audit = started(new_audit(aud), people)
    found = raise_one(audit, aud, classification="major")
    page_url = f"/admin/audits_finding/details/?id={found.id}"
    login(client, "aud")
    page = text(client.get(page_url))
    assert 'id="audits-raise-capa"' in page and "Raise a CAPA" in page
    url = f"/audits/findings/{found.id}/raise-capa"
    assert client.post(url, data={}).status_code == 400  # no token, no CAPA
    raised = client.post(url, data={"csrf_token": csrf_token(client, page_url)})
    assert raised.status_code == 302 and raised.headers["Location"].endswith(page_url)
    [capa] = db.session.query(Capa).all()
    assert queries.linked_into(found) == [capa]
    switch(client, login, "ivan")  # reads, but may not create a CAPA
    assert "Raise a CAPA" not in text(client.get(page_url))
    client.post(url, data={"csrf_token": csrf_token(client, page_url)})
    assert db.session.query(Capa).count() == 1

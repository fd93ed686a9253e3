"""The CAPA plugin's pages through the test client: a CAPA's actions (plan, complete), My CAPA
actions, an event's analysis, raising a CAPA from the event's record page, the whole chain and
the CAPA board; every form a POST with its CSRF token, other sites' records 404."""

from __future__ import annotations

import pytest
from capa_helpers import (
    all_capas,
    edit,
    effective,
    impact_verified,
    in_days,
    investigated,
    new_capa,
    new_event,
    sig,
    step,
    studies,
    team,
    verify_critical_data,
)

from core import db
from core.testing import csrf_token
from plugins.capa import queries

pytestmark = pytest.mark.plugins("capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def text(response, status=200):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def switch(client, login, username):  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, username)


def test_actions_are_planned_on_the_actions_page_and_completed_by_their_owner(client, login,
                                                                              people):
    ann, olga, quinn = people["ann"], people["olga"], people["quinn"]
    capa = new_capa(ann)
    url = f"/capa/capas/{capa.id}/actions"
    login(client, "ann")
    page = text(client.get(url))
    assert "No action planned yet." in page and 'id="add-action"' in page
    token = csrf_token(client, url)
    added = client.post(url, data={
        "csrf_token": token, "kind": "preventive", "description": "Check ICF versions at visits",
        "owner_id": str(olga.id), "due_date": in_days(10).isoformat()})
    assert added.status_code == 302 and added.headers["Location"].endswith(url)
    page = text(client.get(url))
    assert "Check ICF versions at visits" in page and "Preventive action" in page
    assert "Olga Tester" in page and in_days(10).isoformat() in page
    [planned] = queries.actions_of(capa)
    assert (planned.kind, planned.owner_id, planned.due_date) == (
        "preventive", olga.id, in_days(10))
    assert "1. Preventive action: Check ICF versions at visits" in capa.action_plan
    refused = client.post(url, data={"csrf_token": token, "kind": "corrective",
                                     "description": "Too late", "owner_id": str(olga.id),
                                     "due_date": in_days(-3).isoformat()},
                          follow_redirects=True)
    assert "no action was added" in text(refused) and "in the past" in text(refused)
    assert client.post(url, data={"kind": "corrective", "description": "No token",
                                  "owner_id": str(olga.id)}).status_code == 400
    assert len(queries.actions_of(capa)) == 1

    edit(capa, ann, impact_assessment="None.")
    step(capa, "verify_impact", ann, signature=sig())
    step(capa, "approve_plan", quinn, signature=sig())
    assert 'id="add-action"' not in text(client.get(url))  # past planning
    assert f'id="complete-{planned.id}"' not in text(client.get(url))  # ann owns none
    switch(client, login, "olga")
    assert "Check ICF versions at visits" in text(client.get("/capa/my-actions"))
    assert f'id="complete-{planned.id}"' in text(client.get(url))
    done = client.post(f"/capa/actions/{planned.id}/complete", data={
        "csrf_token": csrf_token(client, url), "evidence": "Checked at 3 visits."},
        follow_redirects=True)
    assert "action completed" in text(done)
    db.session.refresh(planned)
    assert (planned.completed_by_id, planned.evidence) == (olga.id, "Checked at 3 visits.")
    assert "Check ICF versions at visits" not in text(client.get("/capa/my-actions"))


def test_another_sites_user_gets_404_on_the_capa_pages(client, login, people, make_user):
    berlin, lyon = studies()
    quinn = people["quinn"]
    capa = new_capa(quinn, study_id=lyon.study_id, site_id=lyon.id)
    event = new_event(quinn, study_id=lyon.study_id, site_id=lyon.id)
    make_user("sam", "site_monitor", site=berlin)
    login(client, "sam")
    token = csrf_token(client, "/capa/my-actions")
    for url in (f"/capa/capas/{capa.id}/actions", f"/capa/records/{capa.id}/chain",
                f"/capa/records/{event.id}/chain", f"/capa/events/{event.id}/analysis"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/capa/capas/{capa.id}/actions", data={
        "csrf_token": token, "kind": "corrective", "description": "Sneak in",
        "owner_id": str(people["olga"].id), "due_date": in_days(5).isoformat()}
    ).status_code == 404
    assert client.post(f"/capa/events/{event.id}/raise-capa",
                       data={"csrf_token": token}).status_code == 404
    assert queries.actions_of(capa) == [] and len(all_capas()) == 1
    assert capa.number not in text(client.get("/admin/capa_board/"))


def test_the_event_page_offers_raise_a_capa_while_investigating(client, login, people):
    ann = people["ann"]
    event = new_event(ann, severity="major", description="Two subjects on ICF v3.")
    page_url = f"/admin/capa_event/details/?id={event.id}"
    login(client, "ann")
    page = text(client.get(page_url))
    assert 'id="capa-analysis"' in page and 'id="capa-raise"' not in page
    edit(event, ann, containment="Re-consented.")
    step(event, "contain", ann)
    step(event, "investigate", ann)
    page = text(client.get(page_url))
    assert 'id="capa-raise"' in page and "Raise a CAPA" in page
    raised = client.post(f"/capa/events/{event.id}/raise-capa",
                         data={"csrf_token": csrf_token(client, page_url)})
    [capa] = all_capas()
    assert raised.status_code == 302, text(raised)
    assert raised.headers["Location"].endswith(f"/admin/capa_capa/edit/?id={capa.id}")
    assert queries.addressed_by(capa) == [event] and queries.capas_for(event) == [capa]
    assert (capa.category, capa.priority, capa.problem_statement, capa.owner_id) == (
        "deviation", "medium", "Two subjects on ICF v3.", ann.id)
    assert capa.title.startswith(f"CAPA for {event.number}")
    assert client.post(f"/capa/events/{event.id}/raise-capa", data={}).status_code == 400
    assert len(all_capas()) == 1  # no token, no CAPA
    switch(client, login, "ivan")  # an inspector reads but raises nothing
    assert 'id="capa-raise"' not in text(client.get(page_url))
    assert client.post(f"/capa/events/{event.id}/raise-capa", data={
        "csrf_token": csrf_token(client, page_url)}).status_code == 403
    assert len(all_capas()) == 1


def test_analysis_lines_are_added_on_the_analysis_page_while_investigating(client, login,
                                                                             people):
    ann = people["ann"]
    event = new_event(ann)
    url = f"/capa/events/{event.id}/analysis"
    login(client, "ann")
    assert 'name="finding"' not in text(client.get(url))  # not investigating yet
    step(event, "investigate", ann)
    token = csrf_token(client, url)
    client.post(url, data={"csrf_token": token, "part": "Why 1",
                           "finding": "The old stock was used."})
    client.post(url, data={"csrf_token": token, "part": "Why 1", "finding": "  "})
    assert [(line.part, line.finding) for line in queries.analysis_of(event)] == [
        ("Why 1", "The old stock was used.")]
    assert "The old stock was used." in text(client.get(url))


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-19", "ISO-17", "E6-09")
def test_the_chain_page_shows_every_step_with_its_signatures(client, login, people):
    ann, quinn = people["ann"], people["quinn"]
    event = new_event(ann, title="Consent on ICF v3", significant=True)
    investigated(event, ann)
    capa = new_capa(ann, event)
    effective(capa, people)
    step(capa, "close", quinn, signature=sig())
    verify_critical_data(event, quinn)  # a second person (A11-05)
    step(event, "close", quinn, signature=sig())
    login(client, "ivan")
    for record in (capa, event):
        page = text(client.get(f"/capa/records/{record.id}/chain"))
        titles = [f"Event {event.number}: reported", "Containment", "Investigation",
                  f"{capa.number}: plan", "Actions", "Effectiveness check", "CAPA closure",
                  "Event closure"]
        for title in titles:
            assert title in page, (record.number, title)
        assert page.count('badge badge-success">done') == 8, record.number
        for name, meaning in (("Ann Tester", "responsible"), ("Vic Tester", "verified"),
                              ("Quinn Tester", "adequacy confirmed"),
                              ("Quinn Tester", "approved")):
            assert f"{name} ({meaning})" in page, (record.number, name, meaning)
        assert "Action 1 of olga" in page
    assert client.get(f"/capa/records/{people['ann'].id + 10_000}/chain").status_code == 404


def test_the_board_shows_capas_by_stage_in_the_viewers_scope(client, login, people):
    ann, quinn = people["ann"], people["quinn"]
    berlin, _lyon = studies()
    planning = new_capa(ann, title="Still planning")
    verified = new_capa(ann, title="Impact verified", study_id=berlin.study_id)
    impact_verified(verified, ann, people["olga"])
    closed = new_capa(ann, title="Closed already", category="other")
    effective(closed, people)
    step(closed, "close", quinn, signature=sig())
    login(client, "ivan")
    page = text(client.get("/admin/capa_board/"))
    for capa in (planning, verified):
        assert capa.number in page
    assert closed.number not in page
    page = text(client.get("/admin/capa_board/?study=S-1"))
    assert verified.number in page and planning.number not in page
    assert "No study" in text(client.get("/admin/capa_board/?study=NOPE"))
    dashboard = text(client.get("/admin/"))
    assert 'id="capa-open-total">2<' in dashboard and 'id="capa-board-link"' in dashboard

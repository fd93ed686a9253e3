"""A CAPA's actions and an event's analysis lines through the JSON API: planned and completed
by who may, refused (409, 422 naming the field, 404 outside one's reach) otherwise."""

from __future__ import annotations

import pytest
from capa_helpers import edit, in_days, new_capa, new_event, sig, step, team

from core import db
from core.testing_api import ApiCaller, ok, problem
from plugins.capa import queries

pytestmark = pytest.mark.plugins("capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def plan(caller, capa, owner="olga", **values):  # type: ignore[no-untyped-def]
    body = {"kind": "corrective", "description": "Add a withdrawal step", "owner": owner,
            "due_date": in_days(10).isoformat(), **values}
    return caller.post(f"/capa/capas/{capa.id}/actions", json=body)


@pytest.mark.req("ISO-17")
def test_actions_are_planned_and_completed_through_the_api(client, people):
    ann, olga = ApiCaller(client, "ann"), ApiCaller(client, "olga")
    capa = new_capa(people["ann"])
    capa_id = capa.id
    action = ok(plan(ann, capa), 201)
    assert action["owner"] == "olga" and action["completed_at"] is None
    assert "Add a withdrawal step" in db.session.get(type(capa), capa_id).action_plan
    problem(plan(ann, capa, owner="nobody"), 422, "owner")
    problem(plan(ann, capa, kind="wish"), 422, "kind")
    problem(plan(ann, capa, description="\x00"), 422, "description")
    problem(olga.post(f"/capa/actions/{action['id']}/complete", json={"evidence": "Done"}), 409)
    capa = db.session.get(type(capa), capa_id)
    edit(capa, people["ann"], impact_assessment="No effect on subject safety.")
    step(capa, "verify_impact", people["ann"], signature=sig())
    step(capa, "approve_plan", people["quinn"], signature=sig())
    url = f"/capa/actions/{action['id']}/complete"
    problem(ann.post(url, json={"evidence": "Done"}), 403)  # not hers
    problem(olga.post(url, json={"evidence": "Done", "result": "SOP-9999"}), 422, "result")
    done = ok(olga.post(url, json={"evidence": "Procedure v2 issued"}))
    assert done["completed_at"] and done["evidence"] == "Procedure v2 issued"
    problem(olga.post(url, json={"evidence": "Again"}), 409)
    listed = ok(ann.get(f"/capa/capas/{capa_id}/actions"))
    assert [a["id"] for a in listed] == [action["id"]]
    assert ok(ApiCaller(client, "ivan").get(f"/capa/capas/{capa_id}/actions"))  # inspectors read
    problem(ApiCaller(client, "ivan").post(f"/capa/capas/{capa_id}/actions", json={
        "kind": "corrective", "description": "x", "owner": "olga",
        "due_date": in_days(3).isoformat()}), 403)
    assert client.get(f"/api/v1/capa/capas/{capa_id + 999}/actions",
                      headers=ann.headers).status_code == 404


@pytest.mark.req("ISO-16")
def test_analysis_lines_are_added_while_investigating(client, people):
    ann = ApiCaller(client, "ann")
    event = new_event(people["ann"])
    event_id = event.id
    problem(ann.post(f"/capa/events/{event_id}/analysis",
                     json={"part": "Why 1", "finding": "Old stock"}), 409)
    step(event, "investigate", people["ann"])
    line = ok(ann.post(f"/capa/events/{event_id}/analysis",
                       json={"part": "Why 1", "finding": "Old stock"}), 201)
    problem(ann.post(f"/capa/events/{event_id}/analysis", json={"part": "Why 2"}), 422,
            "finding")
    assert [x["id"] for x in ok(ann.get(f"/capa/events/{event_id}/analysis"))] == [line["id"]]
    assert len(queries.analysis_of(event)) == 1

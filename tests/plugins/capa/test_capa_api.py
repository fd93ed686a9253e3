"""The CAPA plugin through the JSON API: events created and moved through the core's record
endpoints (bad values as 422 problem+json naming the field, guards as 409), and the plugin's
own trend endpoint in the caller's scope."""

from __future__ import annotations

import pytest
from capa_helpers import new_event, step, studies, team, today

from core.testing_api import ApiCaller, ok, problem

pytestmark = pytest.mark.plugins("capa")
API = "/api/v1"


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


@pytest.fixture
def ann(client, people):
    return ApiCaller(client, "ann")


EVENT = {"title": "Consent on an old ICF version", "category": "deviation",
         "description": "Two subjects signed version 3."}


BAD_EVENTS = (
    ({"category": "nonsense"}, "category"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"category": "protocol_deviation"}, "importance"),
    ({"importance": "important"}, "importance"),
    ({"category": "protocol_deviation", "importance": "somewhat"}, "importance"),
    ({"occurred_on": "2999-01-01"}, "occurred_on"),
    ({"similar_found": "none found"}, "similar_found"),
)


def test_bad_event_values_through_the_api_are_422_naming_the_field(ann):
    for values, field in BAD_EVENTS:
        problem(ann.post("/records/capa_event", json={**EVENT, **values}), 422, field)
    assert ok(ann.get("/records/capa_event"))["items"] == []


@pytest.mark.req("ISO-15", "ISO-16")
def test_an_event_created_and_contained_through_the_api(ann, people):
    earlier = new_event(people["quinn"], title="An earlier deviation",
                        category="protocol_deviation", importance="not_important")
    body = ok(ann.post("/records/capa_event", json={
        **EVENT, "category": "protocol_deviation", "importance": "important",
        "occurred_on": today().isoformat()}), 201)
    assert (body["state"], body["similar_found"]) == ("reported", earlier.number)
    assert body["reported_at"] and body["due_date"]
    url = f"/records/capa_event/{body['id']}"
    refusal = problem(ann.post(f"{url}/transitions/contain", json={}), 409)
    assert "containment" in refusal["detail"].lower()
    changed = ok(ann.patch(url, json={"containment": "Re-consented on version 4."},
                           headers={"If-Match": f'"{body["version"]}"'}))
    moved = ok(ann.post(f"{url}/transitions/contain", json={}))
    assert moved["state"] == "contained" and moved["contained_at"]
    assert moved["version"] > changed["version"]
    problem(ann.patch(url, json={"severity": "cosmic", "reason": "typo"},
                      headers={"If-Match": f'"{moved["version"]}"'}), 422, "severity")


# -- the trend -----------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgresql")
def test_the_trend_counts_events_by_category_in_the_callers_scope(client, people, make_user):
    quinn = people["quinn"]
    berlin, lyon = studies()
    for title, category, site in (("B1", "deviation", berlin), ("B2", "deviation", berlin),
                                  ("B3", "complaint", berlin), ("L1", "deviation", lyon),
                                  ("L2", "system_incident", lyon)):
        new_event(quinn, title=title, category=category, study_id=site.study_id,
                  site_id=site.id)
    gone = new_event(quinn, title="Entered in error")
    step(gone, "cancel", quinn, reason="Entered in error")  # left out of the trend
    month = f"{today():%Y-%m}"
    caller = ApiCaller(client, "quinn")

    rows = ok(caller.get("/capa/trend"))  # by category, the default
    assert {(r["key"], r["events"]) for r in rows} == {
        ("deviation", 3), ("complaint", 1), ("system_incident", 1)}
    assert {r["month"] for r in rows} == {month}
    assert {r["label"] for r in rows} == {"Deviation", "Complaint", "System incident"}
    assert ok(caller.get("/capa/trend?by=category")) == rows
    by_site = ok(caller.get("/capa/trend?by=site&months=3"))
    assert {(r["key"], r["events"]) for r in by_site} == {("S-1/101", 3), ("S-2/201", 2)}
    by_study = ok(caller.get("/capa/trend?by=study"))
    assert {(r["key"], r["events"]) for r in by_study} == {("S-1", 3), ("S-2", 2)}
    for query, field in (("by=bogus", "by"), ("months=0", "months"), ("months=x", "months"),
                         ("colour=red", "colour")):
        problem(caller.get(f"/capa/trend?{query}"), 400, field)
    problem(client.get(f"{API}/capa/trend"), 401)

    make_user("sam", "site_monitor", site=berlin)
    sam = ApiCaller(client, "sam")
    assert {(r["key"], r["events"]) for r in ok(sam.get("/capa/trend"))} == {
        ("deviation", 2), ("complaint", 1)}
    assert [(r["key"], r["events"]) for r in ok(sam.get("/capa/trend?by=site"))] == [
        ("S-1/101", 3)]
    make_user("nobody", "trainee")
    problem(ApiCaller(client, "nobody").get("/capa/trend"), 403)


def test_a_site_scoped_caller_reaches_only_their_sites_events(client, people, make_user):
    quinn = people["quinn"]
    berlin, lyon = studies()
    mine = new_event(quinn, title="At Berlin", study_id=berlin.study_id, site_id=berlin.id)
    theirs = new_event(quinn, title="At Lyon", study_id=lyon.study_id, site_id=lyon.id)
    make_user("sam", "site_monitor", site=berlin)
    sam = ApiCaller(client, "sam")
    assert [i["number"] for i in ok(sam.get("/records/capa_event"))["items"]] == [mine.number]
    problem(sam.get(f"/records/capa_event/{theirs.id}"), 404)
    problem(sam.post("/records/capa_event", json={**EVENT, "site_id": lyon.id}), 403)
    created = ok(sam.post("/records/capa_event", json={**EVENT, "site_id": berlin.id}), 201)
    assert (created["site"], created["state"]) == ("101", "reported")

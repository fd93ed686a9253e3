"""State categories: each workflow state declares draft, open, closed or cancelled; start-up
refuses a missing or unknown one, and the core's lists, filters and counts use them."""

from __future__ import annotations

import re

import pytest
from kernel_plugin import TRANSITIONS, WORKFLOW, make_plugin

from core import (
    SignatureRequest,
    StartupError,
    Workflow,
    attest,
    category_of,
    create_record,
    states_in,
    transition,
    update_record,
)
from core.db import db
from core.hookspecs import hookimpl
from core.testing import DEFAULT_PASSWORD

API = "/api/v1"
WIDGETS = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


def acme_with(temp_plugin, categories):  # type: ignore[no-untyped-def]
    plugin = make_plugin(temp_plugin)
    workflow = Workflow("acme_widget", WORKFLOW.states, "draft", TRANSITIONS,
                        categories=categories)
    plugin.register_workflows = hookimpl(lambda: [workflow])
    return plugin


@pytest.fixture
def widgets(app, make_user):
    """One widget per state: draft, in review, approved and retired (WID-...-0001 to -0004)."""
    alice = make_user("alice", "author")
    bob = make_user("bob", "approver")
    attest(bob, DEFAULT_PASSWORD)
    made = {}
    for state in ("draft", "in_review", "approved", "retired"):
        widget = create_record("acme_widget", alice, title=f"Pump {state}", description="Blue")
        db.session.commit()
        if state != "draft":
            transition(widget, "submit", alice)
        if state in ("approved", "retired"):
            transition(widget, "approve", bob,
                       signature=SignatureRequest(password=DEFAULT_PASSWORD))
        if state == "retired":
            transition(widget, "retire", bob, reason="Replaced",
                       signature=SignatureRequest(password=DEFAULT_PASSWORD))
        db.session.commit()
        made[state] = widget
    return made


def token_for(client, username):  # type: ignore[no-untyped-def]
    response = client.post(f"{API}/auth/tokens", json={"username": username,
                                                       "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


# -- declaration and start-up ----------------------------------------------------------------------


@pytest.mark.parametrize(("categories", "message"), [
    ({"draft": "draft", "in_review": "open", "approved": "open"},
     "plugin 'acme': workflow 'acme_widget': state 'retired' declares no category"),
    ({**WORKFLOW.categories, "retired": "done"},
     "plugin 'acme': workflow 'acme_widget': state 'retired' has unknown category 'done' "
     r"\(one of draft, open, closed, cancelled\)"),
    ({**WORKFLOW.categories, "archived": "closed"},
     "plugin 'acme': workflow 'acme_widget': categories name unknown state 'archived'"),
    ({}, "plugin 'acme': workflow 'acme_widget': state 'draft' declares no category"),
])
def test_start_up_refuses_a_missing_or_unknown_category_naming_the_plugin(
        app_factory, temp_plugin, categories, message):
    with pytest.raises(StartupError, match=message):
        app_factory(plugins=["acme"], extra_plugins={"acme": acme_with(temp_plugin, categories)},
                    schema=False)


def test_states_in_answers_from_the_declared_categories(app):
    assert states_in("acme_widget", "open") == ("in_review", "approved")
    assert states_in("acme_widget", "draft", "closed") == ("draft", "retired")
    assert states_in("acme_widget", "cancelled") == ()
    assert states_in("acme_widget") == WORKFLOW.states  # every state, in the workflow's order
    assert states_in(WORKFLOW, "open") == ("in_review", "approved")
    with pytest.raises(ValueError, match="unknown state category 'live'"):
        states_in("acme_widget", "live")
    with pytest.raises(LookupError, match="no record type or workflow 'acme_gadget'"):
        states_in("acme_gadget", "open")


def test_the_built_in_plugins_declare_every_state(app_factory):
    app = app_factory(plugins=["documents", "training"], schema=False)
    with app.app_context():
        assert states_in("documents_version", "draft", "open") == ("draft", "in_review",
                                                                   "approved")
        assert states_in("documents_document", "closed") == ("obsolete", "disposed")
        assert states_in("training_assignment", "open", "closed") == ("assigned", "completed",
                                                                      "waived")


def test_category_of_a_record_follows_its_state(widgets):
    assert {s: category_of(w) for s, w in widgets.items()} == {
        "draft": "draft", "in_review": "open", "approved": "open", "retired": "closed"}


def test_draft_is_derived_from_the_categories(app_factory, temp_plugin, make_user):
    """A state of category draft besides the initial one takes changes without a reason."""
    categories = {**WORKFLOW.categories, "in_review": "draft"}
    app = app_factory(plugins=["acme"],
                      extra_plugins={"acme": acme_with(temp_plugin, categories)})
    with app.app_context():
        alice = make_user("alice", "author")
        widget = create_record("acme_widget", alice, title="Pump", description="Blue")
        transition(widget, "submit", alice)
        db.session.commit()
        update_record(widget, alice, expected_version=widget.version, description="Green")
        db.session.commit()
        assert widget.description == "Green"


# -- the API filter --------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgresql")
def test_api_lists_records_of_a_category(client, widgets):
    headers = token_for(client, "alice")
    url = f"{API}/records/acme_widget"
    answer = client.get(url, query_string={"category": "open"}, headers=headers)
    assert answer.status_code == 200
    items = answer.get_json()["items"]
    assert [(i["number"], i["state"], i["category"]) for i in items] == [
        (widgets[s].number, s, "open") for s in ("in_review", "approved")]
    closed = client.get(url, query_string={"category": "closed"}, headers=headers).get_json()
    assert [i["number"] for i in closed["items"]] == [widgets["retired"].number]
    both = client.get(url, query_string={"category": "open", "state": "approved"},
                      headers=headers).get_json()
    assert [i["number"] for i in both["items"]] == [widgets["approved"].number]
    types = client.get(f"{API}/record-types", headers=headers).get_json()
    acme = next(t for t in types if t["key"] == "acme_widget")
    assert acme["categories"] == dict(WORKFLOW.categories)


@pytest.mark.parametrize("value", ["live", "OPEN", ""])
def test_api_refuses_an_unknown_category_naming_the_field(client, widgets, value):
    answer = client.get(f"{API}/records/acme_widget", query_string={"category": value},
                        headers=token_for(client, "alice"))
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert "category" in answer.get_json()["errors"]


# -- the admin filter and the dashboard ------------------------------------------------------------


def test_admin_list_filters_by_category(app, client, login, widgets):
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "acme_widget")
    index, flt = next((i, f) for i, f in enumerate(view._filters) if f.name == "Category")
    arg = f"flt0_{view.get_filter_arg(index, flt)}"
    login(client, "alice")
    page = client.get(WIDGETS, query_string={arg: "open"}).get_data(as_text=True)
    shown = set(re.findall(r"WID-\d{4}-\d{4}", page))
    assert shown == {widgets["in_review"].number, widgets["approved"].number}
    page = client.get(WIDGETS, query_string={arg: "draft"}).get_data(as_text=True)
    assert set(re.findall(r"WID-\d{4}-\d{4}", page)) == {widgets["draft"].number}
    refused = client.get(WIDGETS, query_string={arg: "live"})
    assert refused.status_code == 200  # an invalid filter value is ignored, never a 500
    assert set(re.findall(r"WID-\d{4}-\d{4}", refused.get_data(as_text=True))) == {
        w.number for w in widgets.values()}


def test_dashboard_counts_open_records(client, login, widgets):
    login(client, "alice")
    page = client.get("/admin/").get_data(as_text=True)
    card = page[page.index("Open records by type"):]
    assert 'Widget</td><td class="text-right">2<' in card

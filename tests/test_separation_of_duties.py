"""Separation-of-duties refusals read in business words (issue 12, item 14b): "the person who
created WID-2026-0001 may not qualify it", never "the created by may not Qualify"."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from kernel_plugin import TRANSITIONS, WORKFLOW, make_plugin

from core import Transition, Workflow, create_record, transition
from core.db import db
from core.hookspecs import hookimpl
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.workflows.duties import barred

API = "/api/v1"
WIDGETS = "/admin/acme_widget/"
QUALIFY = Transition("qualify", ("in_review",), "approved", "acme.approve", "Qualify",
                     not_by=("created_by_id",))
QUALIFYING = Workflow("acme_widget", WORKFLOW.states, "draft", (*TRANSITIONS, QUALIFY),
                      categories=WORKFLOW.categories)


@pytest.fixture
def app_config(temp_plugin):
    plugin = make_plugin(temp_plugin)
    plugin.register_workflows = hookimpl(lambda: [QUALIFYING])
    return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}


@pytest.mark.req("P11-09")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_refusal_names_the_person_the_record_and_the_deed(app, client, make_user, login,
                                                               cqms_backend):
    anna = make_user("anna", "approver")
    widget = create_record("acme_widget", anna, title="Pump", description="Blue")
    db.session.commit()
    transition(widget, "submit", anna)
    db.session.commit()
    expected = f"separation of duties: the person who created {widget.number} may not qualify it"

    token = client.post(f"{API}/auth/tokens", json={"username": "anna",
                                                    "password": DEFAULT_PASSWORD}).get_json()
    refused = client.post(f"{API}/records/acme_widget/{widget.id}/transitions/qualify",
                          headers={"Authorization": f"Bearer {token['token']}"}, json={})
    assert refused.status_code == 409 and refused.get_json()["detail"] == expected

    login(client, "anna")
    page = client.post(f"{WIDGETS}{widget.id}/transition/approve", follow_redirects=True,
                       data={"csrf_token": csrf_token(client, WIDGETS), "attest": "y",
                             "password": DEFAULT_PASSWORD}).get_data(as_text=True)
    assert (f"separation of duties: the person who created {widget.number} may not approve it"
            in page)
    assert not re.search(r"the created by|may not Qualify|may not approve\b(?! it)", page)


@pytest.mark.parametrize(("attribute", "label", "said"), [
    ("created_by_id", "Qualify", "the person who created REC-1 may not qualify it"),
    ("updated_by_id", "", "the person who last changed REC-1 may not release it"),
    ("owner_id", "Sign the review", "the owner of REC-1 may not sign the review"),
    ("trainee_id", "Waive", "the trainee of REC-1 may not waive it"),
    ("approved_by_id", "QA release", "the person who approved REC-1 may not QA release"),
    ("site_lead_id", "Record completion", "the site lead of REC-1 may not record completion"),
])
def test_each_attribute_and_label_reads_as_a_sentence(attribute, label, said):
    record = SimpleNamespace(number="REC-1", **{attribute: 7})
    step = Transition("release", ("a",), "b", "x.y", label, not_by=(attribute,))
    assert barred(record, step, SimpleNamespace(id=7)) == [f"separation of duties: {said}"]
    assert barred(record, step, SimpleNamespace(id=8)) == []

"""Typed links (issue 12 item 6): declared kinds with allowed types and cardinality, unlinking
with a reason (the link ends, never deleted), ``linked`` both ways, and the impact graph in
the API and on the record page."""

from __future__ import annotations

import pytest
from kernel_plugin import LINK_KINDS, make_plugin
from sqlalchemy import func, select

from core import (
    ConflictError,
    LinkKind,
    StartupError,
    ValidationError,
    create_record,
    link_records,
    linked,
    links_of,
    unlink,
)
from core.audit.models import AuditEntry
from core.db import db
from core.records.models import RecordLink
from core.testing import DEFAULT_PASSWORD, csrf_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")
URL = "/admin/acme_widget/"


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    plugin = make_plugin(temp_plugin, register_link_kinds=lambda: list(LINK_KINDS))
    return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}


@pytest.fixture
def widgets(app, make_user):  # type: ignore[no-untyped-def]
    alice = make_user("alice", "author")
    made = [create_record("acme_widget", alice, title=f"W{n}", description="d")
            for n in range(4)]
    db.session.commit()
    return alice, made


def test_undeclared_kinds_and_wrong_types_are_refused(widgets):
    alice, (a, b, *_) = widgets
    with pytest.raises(ValidationError) as refused:
        link_records(a, b, "free text", alice)
    assert "kind" in refused.value.errors and "relates_to" in refused.value.errors["kind"]
    db.session.rollback()
    link_records(a, b, "replaces", alice)
    with pytest.raises(ConflictError, match="a record has one such link"):
        link_records(a, widgets[1][2], "replaces", alice)  # cardinality one
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(RecordLink)) == 0


def test_unlink_ends_the_link_with_a_reason_and_it_can_be_made_again(widgets):
    alice, (a, b, *_) = widgets
    link = link_records(a, b, "uses", alice, reason="Shares the pump")
    db.session.commit()
    assert linked(a, "uses") == [b] and linked(b, "uses", direction="in") == [a]
    assert linked(b, "uses", direction="out") == []
    with pytest.raises(ValidationError, match="Say why"):
        unlink(link, alice, reason="  ")
    db.session.rollback()
    unlink(link, alice, reason="The pump was replaced")
    db.session.commit()
    assert links_of(a) == [] and linked(a, "uses") == []
    ended = links_of(a, include_ended=True)
    assert [(x.end_reason, x.ended_by_id) for x in ended] == [("The pump was replaced",
                                                              alice.id)]
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.entity_type == "core_record_link", AuditEntry.field == "ended_at"))
    assert entry is not None and entry.reason == "The pump was replaced"
    with pytest.raises(ConflictError, match="already ended"):
        unlink(link, alice, reason="again")
    db.session.rollback()
    link_records(a, b, "uses", alice, reason="Back in use")  # unique while live only
    db.session.commit()
    assert len(links_of(a, include_ended=True)) == 2


def _token(client, username):  # type: ignore[no-untyped-def]
    answer = client.post("/api/v1/auth/tokens", json={"username": username,
                                                      "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def test_the_api_names_the_rule_and_answers_the_impact(widgets, client):
    alice, (a, b, c, d) = widgets
    headers = _token(client, "alice")
    url = f"/api/v1/records/acme_widget/{a.id}"
    bad = client.post(f"{url}/links", json={"target": b.number, "kind": "governed"},
                      headers=headers)
    assert bad.status_code == 422 and "kind" in bad.get_json()["errors"]
    made = client.post(f"{url}/links", json={"target": b.number, "kind": "addresses"},
                       headers=headers)
    assert made.status_code == 201 and made.get_json()["relation"] == "addresses"
    link_records(b, c, "uses", alice)
    link_records(d, c, "relates_to", alice)
    db.session.commit()
    impact = client.get(f"{url}/impact", query_string={"depth": 3}, headers=headers).get_json()
    reached = {(r["record"]["number"], r["depth"]) for r in impact["records"]}
    assert reached == {(b.number, 1), (c.number, 2), (d.number, 3)}
    assert impact["hidden"] == 0
    near = client.get(f"{url}/impact", query_string={"depth": 1}, headers=headers).get_json()
    assert [r["record"]["number"] for r in near["records"]] == [b.number]
    assert near["records"][0]["via"] == f"{a.number} addresses"
    too_deep = client.get(f"{url}/impact", query_string={"depth": 9}, headers=headers)
    assert too_deep.status_code == 422 and "depth" in too_deep.get_json()["errors"]
    ended = client.post(f"{url}/links/{made.get_json()['id']}/end", json={"reason": ""},
                        headers=headers)
    assert ended.status_code == 422 and "reason" in ended.get_json()["errors"]
    ended = client.post(f"{url}/links/{made.get_json()['id']}/end",
                        json={"reason": "Wrong widget"}, headers=headers)
    assert ended.status_code == 200 and ended.get_json()["end_reason"] == "Wrong widget"
    listed = client.get(f"{url}/links", headers=headers).get_json()
    assert listed == []


def test_the_record_page_lists_links_in_words_unlinks_and_shows_the_impact(widgets, client,
                                                                          login):
    alice, (a, b, c, _d) = widgets
    link = link_records(a, b, "addresses", alice)
    link_records(c, a, "uses", alice)
    db.session.commit()
    login(client, "alice")
    page = client.get(f"{URL}details/?id={a.id}").get_data(as_text=True)
    assert "This record addresses" in page and "This record used by" in page
    assert '<option value="replaces">replaces</option>' in page
    impact = page[page.index('id="impact"'):]
    assert "Widget</strong> (2)" in impact and f"{a.number} addresses it" in impact
    token = csrf_token(client, f"{URL}details/?id={a.id}")
    refused = client.post(f"{URL}{a.id}/links/{link.id}/end",
                          data={"csrf_token": token, "reason": ""}, follow_redirects=True)
    assert "say why the link ends" in refused.get_data(as_text=True)
    done = client.post(f"{URL}{a.id}/links/{link.id}/end",
                       data={"csrf_token": token, "reason": "Not related after all"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"The link from {a.number} to {b.number} has ended." in done
    assert db.session.get(RecordLink, link.id).ended_at is not None


@pytest.mark.parametrize("kinds, message", [
    (lambda: [LinkKind("relates_to", "again", "again")], "declared twice"),
    (lambda: [LinkKind("bad key", "x", "y")], "letters, digits and _"),
    (lambda: [LinkKind("fixes", "fixes", "fixed by", ("acme_gadget",))],
     "unknown record type 'acme_gadget'"),
    (lambda: [LinkKind("fixes", "fixes", "fixed by", cardinality="two")], "cardinality"),
])
def test_bad_link_kinds_stop_start_up(app_factory, temp_plugin, kinds, message):
    plugin = make_plugin(temp_plugin, register_link_kinds=kinds)
    with pytest.raises(StartupError, match=message):
        app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
